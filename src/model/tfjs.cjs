// TensorFlow.js, loaded with require(). Its packages are large CommonJS bundles: imported from
// ESM, Node would scan every one of them for named exports and keep their sources, which costs
// about 350 ms and 30 MB at start. Assigned through a variable so that Node's scan of this file
// finds nothing to follow. The types are in tfjs.d.cts; tf.ts is the module to import.
const tfjs = require('@tensorflow/tfjs');

module.exports = tfjs;
