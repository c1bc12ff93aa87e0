// ONNX Runtime side of bench_peer: one session, driven one run at a time over
// stdin/stdout so the C++ side can interleave it with its own runs.
//
//   node bench/ort_serve.js NODE_MODULES MODEL.onnx THREADS INPUT.f32 C,H,W
// INPUT.f32 holds float32 images of shape [N, C, H, W] (raw, N from the file
// size). Prints "ready", then for each line "B" runs the first B images and
// answers with the run's milliseconds; "quit" ends. Graph optimizations are on
// (ORT's default, as deployed).
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');

async function main() {
  const [modulesDir, model, threadsText, inputFile, chwText] = process.argv.slice(2);
  if (!modulesDir || !model || !inputFile || !chwText) {
    console.error('usage: node ort_serve.js NODE_MODULES MODEL.onnx THREADS INPUT.f32 C,H,W');
    process.exit(2);
  }
  const ort = require(path.resolve(modulesDir, 'onnxruntime-node'));
  const chw = chwText.split(',').map(Number);
  const per = chw.reduce((a, b) => a * b, 1);
  const bytes = fs.readFileSync(inputFile);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const session = await ort.InferenceSession.create(
      model, {intraOpNumThreads: Number(threadsText || 1), interOpNumThreads: 1});
  const feeds = new Map();
  const feed = (batch) => {
    if (!feeds.has(batch))
      feeds.set(batch, {[session.inputNames[0]]: new ort.Tensor('float32', all.slice(0, batch * per), [batch, ...chw])});
    return feeds.get(batch);
  };
  console.log('ready');
  const lines = readline.createInterface({input: process.stdin});
  for await (const line of lines) {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'quit') break;
    const batch = Number(words[0]);
    if (!(batch >= 1) || batch * per > all.length) {
      console.log('error: bad batch ' + words[0]);
      continue;
    }
    const f = feed(batch);
    const t0 = process.hrtime.bigint();
    await session.run(f);
    console.log((Number(process.hrtime.bigint() - t0) / 1e6).toFixed(4));
  }
  process.exit(0);
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
