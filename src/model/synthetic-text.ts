/**
 * Built-in English used to build the embedded default models' vocabularies: a word list for
 * the WordPiece tokenizer and a small corpus the byte-level BPE merges are learned from.
 * Fixed text, so the generated tokenizers are identical on every run and machine.
 */

export const COMMON_WORDS: readonly string[] = `
the of and to a in is it you that he was for on are with as i his they be at one have this
from or had by not word but what some we can out other were all there when up use your how
said an each she which do their time if will way about many then them write would like so
these her long make thing see him two has look more day could go come did number sound no most
people my over know water than call first who may down side been now find any new work part
take get place made live where after back little only round man year came show every good me
give our under name very through just form sentence great think say help low line differ turn
cause much mean before move right boy old too same tell does set three want air well also play
small end put home read hand port large spell add even land here must big high such follow act
why ask men change went light kind off need house picture try us again animal point mother world
near build self earth father head stand own page should country found answer school grow study
still learn plant cover food sun four between state keep eye never last let thought city tree
cross farm hard start might story saw far sea draw left late run while press close night real
life few north open seem together next white children begin got walk example ease paper group
always music those both mark often letter until mile river car feet care second book carry took
science eat room friend began idea fish mountain stop once base hear horse cut sure watch color
face wood main enough plain girl usual young ready above ever red list though feel talk bird soon
body dog family direct pose leave song measure door product black short numeral class wind
question happen complete ship area half rock order fire south problem piece told knew pass since
top whole king space heard best hour better true during hundred five remember step early hold
west ground interest reach fast verb sing listen six table travel less morning ten simple several
vowel toward war lay against pattern slow center love person money serve appear road map rain
rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine
note wait plan figure star box noun field rest correct able pound done beauty drive stood contain
front teach week final gave green oh quick develop ocean warm free minute strong special mind
behind clear tail produce fact street inch multiply nothing course stay wheel full force blue
object decide surface deep moon island foot system busy test record boat common gold possible
plane stead dry wonder laugh thousand ago ran check game shape equate hot miss brought heat snow
tire bring yes distant fill east paint language among
`
  .split(/\s+/)
  .filter((w) => w.length > 0);

export const CORPUS = `The morning was cold and clear, and the river ran fast under the old stone bridge.
People walked to work with their hands in their pockets, talking about the weather, the news and
the price of bread. A small dog followed a boy who carried a red ball, and the boy laughed every
time the dog jumped for it.

In the city, the first trains left the station before the sun came up. The machines in the
factory started one after another, and the workers checked each part before it moved down the
line. Good work takes time, they said, and a careful hand makes fewer mistakes than a fast one.

A computer is a machine that follows a list of simple steps. It reads a number, adds another
number, stores the result and moves to the next step. When millions of these steps run every
second, the computer can draw a picture, play music, answer a question or translate a sentence
from one language into another. Programs are written by people who think carefully about what
should happen in every case, including the cases nobody expects.

The weather changed in the afternoon. Dark clouds came in from the west, the wind turned cold,
and the first drops of rain fell on the dry ground. Farmers were glad, because the fields had
waited for water for many weeks. Children ran home from school and watched the storm from the
window, counting the seconds between the light and the sound of the thunder.

Cooking is a kind of science. Heat changes the shape of food, salt brings out its taste, and
time turns simple things into something better. A good cook tastes the soup before it is served,
adds a little more pepper or a little more water, and waits until everything is just right. The
best meals are often the simplest ones: fresh bread, warm soup, a piece of cheese and an apple.

Travel teaches us that the world is large and that people are much the same everywhere. In every
country we find families at the table, friends laughing in the street, and old men playing games
in the park. The language may be different and the food may be new, but a smile means the same
thing in every town.

The library was quiet except for the sound of pages turning. Students studied for their tests,
writing notes in small books and reading the same lines again and again. A teacher once said
that learning is not about filling a cup but about lighting a fire. The best questions are the
ones that lead to better questions.

Music can change the way a room feels. A slow song makes people think about the past, while a
fast one makes them want to dance. Some people play an instrument every day, practicing the same
piece until their fingers know it better than their minds. Others simply listen, and that is a
kind of art as well.

Science begins with a question and a careful look at the world. Why does the sun rise in the
east? Why is the sea salty? Why do birds fly south in the winter? Each answer opens a new door,
and each door leads to a longer hallway. Scientists test their ideas, measure the results, and
change their minds when the numbers tell a different story.

The market opened at eight. Farmers set out boxes of apples, green beans, fresh eggs and honey.
A woman sold flowers in every color, and a man played the guitar near the fountain while people
dropped coins into his hat. By noon the market was full of voices, and by evening the street was
empty again, with only a few leaves moving in the wind.

Numbers are everywhere: 1, 2, 3, 10, 100, 2024. We count steps, measure distances, and keep
track of time in hours, minutes and seconds. A recipe asks for 2 cups of flour and 3 eggs; a map
says the town is 12 miles away; a clock says it is 7:30 and time to go.

Good software is tested. Every function should do one thing well, every error should say what
went wrong and where, and every change should leave the code a little cleaner than before. When
a test fails, it is telling you something useful. Read the message, find the cause, fix it, and
run the tests again.

Night came slowly. The stars appeared one by one, the moon rose over the hills, and the town
grew quiet. Somewhere a window was still open, and a radio played an old song about the sea,
about ships that sail far away and always, one day, come home again.
`;
