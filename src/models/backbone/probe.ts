/**
 * Linear probes: what a backbone's pooled features encode, measured as held-out accuracy of a ridge
 * classifier (one-vs-rest least squares on standardised features; closed form, so deterministic).
 */
interface ProbeData {
  readonly features: Float32Array;
  readonly width: number;
  readonly labels: readonly number[];
}

/** Solves the symmetric positive definite system A x = b in place (Cholesky); A is n x n row-major. */
const solveSpd = (a: Float64Array, b: Float64Array, n: number, columns: number): Float64Array => {
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!;
    for (let k = 0; k < j; k++) d -= a[j * n + k]! ** 2;
    const l = Math.sqrt(d);
    a[j * n + j] = l;
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= a[i * n + k]! * a[j * n + k]!;
      a[i * n + j] = s / l;
    }
  }
  for (let c = 0; c < columns; c++) {
    for (let i = 0; i < n; i++) {
      let s = b[i * columns + c]!;
      for (let k = 0; k < i; k++) s -= a[i * n + k]! * b[k * columns + c]!;
      b[i * columns + c] = s / a[i * n + i]!;
    }
    for (let i = n - 1; i >= 0; i--) {
      let s = b[i * columns + c]!;
      for (let k = i + 1; k < n; k++) s -= a[k * n + i]! * b[k * columns + c]!;
      b[i * columns + c] = s / a[i * n + i]!;
    }
  }
  return b;
};

/** Fits on `train`, returns accuracy on `test`. Features get a bias column; `lambda` is the ridge strength. */
export const ridgeProbeAccuracy = (train: ProbeData, test: ProbeData, classes: number, lambda = 1e-2): number => {
  const w = train.width;
  const n = w + 1;
  const rows = train.labels.length;
  const mean = new Float64Array(w);
  const std = new Float64Array(w);
  for (let r = 0; r < rows; r++) for (let j = 0; j < w; j++) mean[j]! += train.features[r * w + j]! / rows;
  for (let r = 0; r < rows; r++) for (let j = 0; j < w; j++) std[j]! += (train.features[r * w + j]! - mean[j]!) ** 2 / rows;
  for (let j = 0; j < w; j++) std[j] = Math.sqrt(std[j]!) + 1e-6;
  const row = (data: ProbeData, r: number, out: Float64Array) => {
    for (let j = 0; j < w; j++) out[j] = (data.features[r * w + j]! - mean[j]!) / std[j]!;
    out[w] = 1;
  };
  const gram = new Float64Array(n * n);
  const rhs = new Float64Array(n * classes);
  const x = new Float64Array(n);
  for (let r = 0; r < rows; r++) {
    row(train, r, x);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) gram[i * n + j]! += x[i]! * x[j]!;
      for (let c = 0; c < classes; c++) rhs[i * classes + c]! += x[i]! * (train.labels[r] === c ? 1 : -1);
    }
  }
  for (let i = 0; i < n; i++) gram[i * n + i]! += lambda * rows;
  const weights = solveSpd(gram, rhs, n, classes);
  let correct = 0;
  for (let r = 0; r < test.labels.length; r++) {
    row(test, r, x);
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < classes; c++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[i]! * weights[i * classes + c]!;
      if (s > bestScore) [best, bestScore] = [c, s];
    }
    if (best === test.labels[r]) correct++;
  }
  return correct / test.labels.length;
};
