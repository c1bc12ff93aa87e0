// ONNX Runtime latency of several models, measured side by side: the runs are
// interleaved (model A, model B, A, B, ...) so machine noise hits all alike,
// and the table gives each model's median time and its ratio to the first.
//
//   node bench/ort_latency.js tests/tools/ort/node_modules SHAPE RUNS THREADS A.onnx [B.onnx ...]
//   e.g. node bench/ort_latency.js tests/tools/ort/node_modules 1,1,28,28 300 1 as_is.onnx lite.onnx
//
// Graph optimizations are on (ORT's default, as deployed); the input is random.
'use strict';
const path = require('path');

async function main() {
  const [modulesDir, shapeText, runsText, threadsText, ...models] = process.argv.slice(2);
  if (!modulesDir || !shapeText || !models.length) {
    console.error('usage: node ort_latency.js NODE_MODULES N,C,H,W RUNS THREADS MODEL.onnx...');
    process.exit(2);
  }
  const ort = require(path.resolve(modulesDir, 'onnxruntime-node'));
  const shape = shapeText.split(',').map(Number);
  const runs = Number(runsText || 200), threads = Number(threadsText || 1);
  const size = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(size).map(() => Math.random() * 2 - 1);
  const sessions = [];
  for (const m of models)
    sessions.push(await ort.InferenceSession.create(m, {intraOpNumThreads: threads, interOpNumThreads: 1}));
  const feed = (s) => ({[s.inputNames[0]]: new ort.Tensor('float32', x, shape)});
  for (let w = 0; w < 20; ++w) for (const s of sessions) await s.run(feed(s));  // warm-up
  const times = sessions.map(() => []);
  for (let r = 0; r < runs; ++r)
    for (let i = 0; i < sessions.length; ++i) {
      const t0 = process.hrtime.bigint();
      await sessions[i].run(feed(sessions[i]));
      times[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const base = median(times[0]);
  console.log(`ONNX Runtime, input [${shape}], ${threads} thread(s), ${runs} interleaved runs each`);
  models.forEach((m, i) => {
    const med = median(times[i]);
    console.log(`${m}: median ${med.toFixed(3)} ms, ratio to the first ${(med / base).toFixed(3)}`);
  });
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
