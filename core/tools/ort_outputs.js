// ONNX Runtime side of `edgeopt-run --onnxruntime` (core/src/onnxruntime_eval.cpp):
// one session on an exported model, driven one batch at a time over
// stdin/stdout. EdgeOpt's data loader makes the batches (the run's
// val_transforms) and scores the outputs with its own metric code; this
// script only runs the model.
//
//   node ort_outputs.js NODE_MODULES MODEL.onnx THREADS
// Prints "ready <onnxruntime version>", then for each line
// "IN.f32 N,C,H,W OUT.f32" runs the float32 batch in IN.f32 and writes every
// graph output's float32 data to OUT.f32, one after another in graph order,
// answering "ok" and each output's dims ("ok 2x45x16x16 2x45x8x8"); "quit"
// ends. Failures answer "error: ..." (the session stays usable). Graph
// optimizations are ORT's default (all), as deployed: a QDQ export runs on
// ORT's int8 kernels.
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

async function main() {
  const [modulesDir, model, threadsText] = process.argv.slice(2);
  if (!modulesDir || !model) {
    console.error('usage: node ort_outputs.js NODE_MODULES MODEL.onnx [THREADS]');
    process.exit(2);
  }
  const ort = require(path.resolve(modulesDir, 'onnxruntime-node'));
  let version = '?';
  try {
    version = require(path.resolve(modulesDir, 'onnxruntime-node', 'package.json')).version;
  } catch (e) {
    // the version is for the record only
  }
  const session = await ort.InferenceSession.create(
      model, {intraOpNumThreads: Number(threadsText || 1), interOpNumThreads: 1});
  console.log('ready ' + version);
  const lines = readline.createInterface({input: process.stdin});
  for await (const line of lines) {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'quit') break;
    try {
      if (words.length !== 3) throw new Error('expected "IN.f32 N,C,H,W OUT.f32", got "' + line + '"');
      const dims = words[1].split(',').map(Number);
      const bytes = fs.readFileSync(words[0]);
      const x = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      if (dims.reduce((a, b) => a * b, 1) !== x.length)
        throw new Error(`${words[0]} holds ${x.length} floats, not ${words[1]}`);
      const out = await session.run({[session.inputNames[0]]: new ort.Tensor('float32', x, dims)});
      const parts = [], shapes = [];
      for (const name of session.outputNames) {
        const t = out[name];
        if (t.type !== 'float32') throw new Error(`output ${name} is ${t.type}, not float32`);
        parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        shapes.push(t.dims.join('x'));
      }
      fs.writeFileSync(words[2], Buffer.concat(parts));
      console.log('ok ' + shapes.join(' '));
    } catch (e) {
      console.log('error: ' + String(e && e.message ? e.message : e).replace(/\s+/g, ' '));
    }
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
