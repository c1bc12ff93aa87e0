// Top-1 accuracy of an ONNX classifier in ONNX Runtime (graph optimizations
// off, as the QDQ parity tests run it) on the Fashion-MNIST t10k IDX files,
// normalized like recipes/mobilenetv2_qat.yaml. Labels are mapped to the
// sorted class-folder order the imagenet dataset plugin uses for the folder
// tree scripts/fetch-data.sh makes (Ankle_boot = 0 ... Trouser = 9).
//
//   node tests/quant/ort_top1_idx.js tests/tools/ort/node_modules MODEL.onnx \
//        [IDX_DIR=/usr/share/datasets/fashion-mnist] [MEAN=0.286] [STD=0.353]
//
// Prints one line: "<model>: top-1 <pct> % on <n> images".
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

// IDX class order -> names as folders spell them ('/' and ' ' become '_').
const IDX_CLASSES = ['T-shirt_top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                     'Ankle_boot'];

function readIdx(file) {
  const raw = fs.readFileSync(fs.existsSync(file) ? file : file + '.gz');
  const bytes = raw[0] === 0x1f && raw[1] === 0x8b ? zlib.gunzipSync(raw) : raw;
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) throw new Error(`${file}: not an unsigned-byte IDX file`);
  const ndims = bytes[3];
  const dims = [];
  for (let i = 0; i < ndims; ++i) dims.push(bytes.readUInt32BE(4 + 4 * i));
  return {dims, data: bytes.subarray(4 + 4 * ndims)};
}

async function main() {
  const [modulesDir, model, idxDir = '/usr/share/datasets/fashion-mnist', mean = '0.286', std = '0.353'] =
      process.argv.slice(2);
  if (!modulesDir || !model) {
    console.error('usage: node ort_top1_idx.js NODE_MODULES MODEL.onnx [IDX_DIR] [MEAN] [STD]');
    process.exit(2);
  }
  const ort = require(path.resolve(modulesDir, 'onnxruntime-node'));
  const images = readIdx(path.join(idxDir, 't10k-images-idx3-ubyte'));
  const labels = readIdx(path.join(idxDir, 't10k-labels-idx1-ubyte'));
  const sorted = [...IDX_CLASSES].sort();
  const toFolderLabel = IDX_CLASSES.map((name) => sorted.indexOf(name));
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'disabled'});
  const [n, rows, cols] = images.dims;
  const pixels = rows * cols, batch = 500, m = Number(mean), s = Number(std);
  let correct = 0;
  for (let begin = 0; begin < n; begin += batch) {
    const count = Math.min(batch, n - begin);
    const x = new Float32Array(count * pixels);
    for (let i = 0; i < count * pixels; ++i) x[i] = (images.data[begin * pixels + i] / 255 - m) / s;
    const out = await session.run({[session.inputNames[0]]: new ort.Tensor('float32', x, [count, 1, rows, cols])});
    const logits = out[session.outputNames[0]].data;
    const classes = logits.length / count;
    for (let i = 0; i < count; ++i) {
      let best = 0;
      for (let c = 1; c < classes; ++c) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
      if (best === toFolderLabel[labels.data[begin + i]]) ++correct;
    }
  }
  console.log(`${model}: top-1 ${(100 * correct / n).toFixed(2)} % on ${n} images`);
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
