// ONNX Runtime latency of several models, measured side by side: the runs are
// interleaved (model A, model B, A, B, ...) so machine noise hits all alike,
// and the table gives each model's median and minimum time, its ratio to the
// first, and its speedup over the first three ways: of the medians, of the
// minimums, and the median with quartiles of the per-round speedups (each
// round times all models back to back, under the same load).
//
//   node bench/ort_latency.js tests/tools/ort/node_modules SHAPE RUNS THREADS A.onnx [B.onnx ...]
//   e.g. node bench/ort_latency.js tests/tools/ort/node_modules 1,1,28,28 300 1 as_is.onnx lite.onnx
//
// Graph optimizations are all on, set explicitly ('all' runs the layout
// transformers, MLAS's NCHWc conv blocking among them, as deployed); one
// intra-op pool of THREADS threads, sequential execution; the input is random.
//
// With EDGEOPT_ORT_PROFILE=DIR set, each model is also run (up to 10 times)
// in a session with ORT's profiler on, and the kernel time per op type per
// run (median run) is printed side by side: which kernels a change moved.
// The traces stay in DIR.
'use strict';
const fs = require('fs');
const path = require('path');

const sessionOptions = (threads) => ({
  graphOptimizationLevel: 'all',
  executionMode: 'sequential',
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
});

// Per op type, the kernel microseconds of each profiled run (trace events
// "<node>_kernel_time" with args.op_name; a run ends at "model_run").
function kernelTimes(traceFile) {
  const events = JSON.parse(fs.readFileSync(traceFile, 'utf8'));
  const runs = [];
  let current = {};
  for (const e of events) {
    if (e.cat === 'Session' && e.name === 'model_run') {
      runs.push(current);
      current = {};
    } else if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args && e.args.op_name) {
      current[e.args.op_name] = (current[e.args.op_name] || 0) + e.dur;
    }
  }
  return runs;
}

async function profile(ort, dir, models, threads, feed, runs) {
  fs.mkdirSync(dir, {recursive: true});
  const perModel = [];
  for (const m of models) {
    const prefix = path.join(dir, path.basename(m, '.onnx'));
    const s = await ort.InferenceSession.create(
        m, {...sessionOptions(threads), enableProfiling: true, profileFilePrefix: prefix});
    for (let r = 0; r < runs; ++r) await s.run(feed(s));
    s.endProfiling();
    const traces = fs.readdirSync(dir)
                       .filter((f) => f.startsWith(path.basename(prefix) + '_') && f.endsWith('.json'))
                       .map((f) => path.join(dir, f))
                       .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
    if (!traces.length) throw new Error(`no ORT profile written under ${dir}`);
    const all = kernelTimes(traces[0]).slice(1);  // the first run warms up
    const ops = new Set(all.flatMap((r) => Object.keys(r)));
    const med = {};
    for (const op of ops) med[op] = median(all.map((r) => r[op] || 0)) / 1000;
    perModel.push(med);
  }
  const ops = [...new Set(perModel.flatMap((p) => Object.keys(p)))];
  ops.sort((a, b) => (perModel[0][b] || 0) - (perModel[0][a] || 0));
  console.log(`kernel ms per run by op type (median of ${runs - 1} profiled runs), ` +
              models.map((m) => path.basename(m)).join(' | '));
  for (const op of ops)
    console.log(`  ${op.padEnd(24)} ` + perModel.map((p) => (p[op] || 0).toFixed(2).padStart(9)).join(' '));
  console.log(`  ${'total'.padEnd(24)} ` +
              perModel.map((p) => Object.values(p).reduce((a, b) => a + b, 0).toFixed(2).padStart(9)).join(' '));
}

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const quantile = (v, q) => [...v].sort((a, b) => a - b)[Math.round(q * (v.length - 1))];

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
    sessions.push(await ort.InferenceSession.create(m, sessionOptions(threads)));
  const feed = (s) => ({[s.inputNames[0]]: new ort.Tensor('float32', x, shape)});
  // Warm-up: as many runs as measured, at most 20 (a batch-32 resnet18 run is ~1 s).
  for (let w = 0; w < Math.min(20, runs); ++w) for (const s of sessions) await s.run(feed(s));
  const times = sessions.map(() => []);
  for (let r = 0; r < runs; ++r)
    for (let i = 0; i < sessions.length; ++i) {
      const t0 = process.hrtime.bigint();
      await sessions[i].run(feed(sessions[i]));
      times[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  const base = median(times[0]);
  console.log(`ONNX Runtime, input [${shape}], ${threads} thread(s), ${runs} interleaved runs each`);
  models.forEach((m, i) => {
    const med = median(times[i]);
    // Speedups over the first model: of the medians, of the minimums, and per round.
    const paired = times[i].map((t, r) => times[0][r] / t);
    const min = Math.min(...times[i]);
    console.log(`${m}: median ${med.toFixed(3)} ms, min ${min.toFixed(3)} ms, ratio to the first ${(med / base).toFixed(3)}` +
                (i ? `; speedup ${(base / med).toFixed(2)}x (medians), ${(Math.min(...times[0]) / min).toFixed(2)}x ` +
                         `(mins), per round ${median(paired).toFixed(2)}x [quartiles ` +
                         `${quantile(paired, 0.25).toFixed(2)}-${quantile(paired, 0.75).toFixed(2)}]` :
                     ''));
  });
  if (process.env.EDGEOPT_ORT_PROFILE)
    await profile(ort, process.env.EDGEOPT_ORT_PROFILE, models, threads, feed, Math.min(runs, 10) + 1);
}

main().catch((e) => {
  console.error(String(e && e.message ? e.message : e));
  process.exit(1);
});
