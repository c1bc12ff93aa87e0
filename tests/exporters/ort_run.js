// Runs ONNX models in ONNX Runtime (npm onnxruntime-node) for the exporter
// tests: node ort_run.js <node_modules dir> <manifest.json>
//
// manifest: {"threads": 2, "optimization": "disabled", "runs": [{"model": "m.onnx",
//   "inputs": [{"name": "x", "file": "x.bin", "dims": [2, 3, 64, 64]}],
//   "output_prefix": "out/m"}]}
// Inputs and outputs are raw little-endian float32. For each run this writes
// <output_prefix>.<i>.bin per output and <output_prefix>.json
// ({"outputs": [{"name", "dims"}]}), or {"error": "..."} if the run failed.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [modulesDir, manifestPath] = process.argv.slice(2);
  const ort = require(path.join(modulesDir, 'onnxruntime-node'));
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  const options = {
    intraOpNumThreads: manifest.threads || 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: manifest.optimization || 'disabled',
  };
  for (const run of manifest.runs) {
    const report = {};
    try {
      const session = await ort.InferenceSession.create(run.model, options);
      const feeds = {};
      for (const input of run.inputs) {
        const bytes = fs.readFileSync(input.file);
        const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
        feeds[input.name] = new ort.Tensor('float32', Float32Array.from(data), input.dims);
      }
      const results = await session.run(feeds);
      report.outputs = [];
      session.outputNames.forEach((name, i) => {
        const t = results[name];
        const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
        fs.writeFileSync(`${run.output_prefix}.${i}.bin`, bytes);
        report.outputs.push({name, dims: Array.from(t.dims)});
      });
      if (session.release) await session.release();
    } catch (e) {
      report.error = String(e && e.message ? e.message : e);
    }
    fs.writeFileSync(`${run.output_prefix}.json`, JSON.stringify(report));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
