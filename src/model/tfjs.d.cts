import * as tfjs from '@tensorflow/tfjs';

export = tfjs;
