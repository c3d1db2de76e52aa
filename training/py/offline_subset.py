"""Which train-split examples `train.py task` drew for each task (it trains on a seeded subset
of at most HP['task']['max_train']), as JSON on stdout. The accuracy benchmark's `trained`
column trains the runtime on exactly these, to compare like with like:

    /usr/bin/python3 training/py/offline_subset.py training/.work > bench/accuracy/offline-subsets.json
"""
import json
import sys

import numpy as np

sys.path.insert(0, __file__.rsplit('/', 1)[0])
from train import HP  # noqa: E402

WORK = sys.argv[1] if len(sys.argv) > 1 else 'training/.work'


def subset(task):
    with open(f'{WORK}/ids/task-{task}.json') as f:
        index = json.load(f)
    n = sum(1 for e in index if e['split'] == 'train')
    hp = HP['task']
    # As train_classifier: the first draw of default_rng(seed) picks the subset, then sorts it.
    picked = list(range(n)) if n <= hp['max_train'] else sorted(np.random.default_rng(hp['seed']).choice(n, hp['max_train'], replace=False).tolist())
    return {'trainExamples': n, 'seed': hp['seed'], 'maxTrain': hp['max_train'], 'epochs': hp['epochs'], 'batch': hp['batch'], 'lr': hp['lr'],
            'rank': hp['ranks'][task], 'indices': picked}


print(json.dumps({'generatedBy': 'training/py/offline_subset.py', 'tasks': {t: subset(t) for t in ('spam',)}}))
