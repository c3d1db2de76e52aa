import { HmiError } from '../errors.js';

/**
 * What this training cannot do with the model or tenant it was given (a base tensor held in
 * row shards, a base without a pooler, a slice larger than its graph): said, rather than
 * computing wrong gradients.
 */
export class TrainingShapeError extends HmiError {
  constructor(message: string) {
    super('TRAINING_UNSUPPORTED', message);
  }
}
