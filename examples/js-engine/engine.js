#!/usr/bin/env node
// js-engine: a reverse-mode (and forward-mode) autodiff engine for adverify's subprocess
// protocol (docs/protocol.md), in one file, no dependencies. Node >= 18.
//
//   adverify campaign --engine 'cmd:node examples/js-engine/engine.js' --examples 2000 --seed 0
//   node examples/js-engine/engine.js --bug tanh      # a planted bug (see BUGS below)
//
// It reads one JSON request per line on stdin and writes one JSON answer per line on stdout.
// Standard output carries the protocol only; diagnostics go to standard error.
"use strict";

const ENGINE_NAME = "js-engine";
const PROTOCOL = 1;

// ---------------------------------------------------------------------------------------
// Planted bugs, for showing (and testing) that a campaign finds them.
const BUGS = {
  tanh: "tanh's backward rule is 1 - t instead of 1 - t*t",
  accumulate: "the backward pass assigns a node's adjoint (=) instead of accumulating it (+=): "
    + "a node used twice keeps only one path's derivative",
  sigmoid: "sigmoid's backward rule is σ(x)·(1 + σ(x)) instead of σ(x)·(1 − σ(x))",
};

function parseArgs(argv) {
  const options = { bug: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    let bug = null;
    if (a === "--bug") {
      if (i + 1 >= argv.length) usage("--bug needs a name");
      bug = argv[++i];
    } else if (a.startsWith("--bug=")) {
      bug = a.slice("--bug=".length);
    } else if (a === "--help" || a === "-h") {
      usage(null);
    } else {
      usage(`unknown argument '${a}'`);
    }
    if (!Object.prototype.hasOwnProperty.call(BUGS, bug)) usage(`unknown bug '${bug}'`);
    options.bug = bug;
  }
  return options;
}

function usage(problem) {
  const lines = [];
  if (problem) lines.push(`engine.js: ${problem}`);
  lines.push("usage: node engine.js [--bug NAME]   (speaks adverify's protocol on stdin/stdout)");
  lines.push("planted bugs:");
  for (const [name, text] of Object.entries(BUGS)) lines.push(`  ${name}: ${text}`);
  process.stderr.write(lines.join("\n") + "\n");
  process.exit(problem ? 2 : 0);
}

const OPTIONS = parseArgs(process.argv.slice(2));
const BUG = OPTIONS.bug;

// ---------------------------------------------------------------------------------------
// Floating-point helpers.

const SPLITTER = 134217729; // 2^27 + 1, Veltkamp's split

// The rounding error of a + b: a + b = s + twoSumErr(a, b, s) exactly (Knuth's TwoSum).
function twoSumErr(a, b, s) {
  const bb = s - a;
  return (a - (s - bb)) + (b - bb);
}

// The rounding error of a * b: a * b = p + twoProdErr(a, b, p) exactly (Dekker), for
// |a|, |b| below 2^996 and a product that neither overflows nor underflows.
function twoProdErr(a, b, p) {
  let t = SPLITTER * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b), bl = b - bh;
  return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

// e^(-x²), without the error of rounding x² (which is x²·2^-53 relative in the result).
function expMinusSquare(x) {
  if (Number.isNaN(x)) return NaN;
  const p = x * x;
  if (!(p < 746)) return 0;                  // underflows
  const e = twoProdErr(x, x, p);
  return Math.exp(-p) * (1 - e);
}

// e^(-x²/2).
function expMinusHalfSquare(x) {
  if (Number.isNaN(x)) return NaN;
  const p = x * x;
  if (!(p < 1492)) return 0;
  const e = twoProdErr(x, x, p);
  return Math.exp(-0.5 * p) * (1 - 0.5 * e);
}

// hypot without overflow or underflow: scaled by a power of two (exact), then one sqrt.
function hypot(x, y) {
  x = Math.abs(x); y = Math.abs(y);
  if (x === Infinity || y === Infinity) return Infinity;
  if (Number.isNaN(x) || Number.isNaN(y)) return NaN;
  if (x < y) { const t = x; x = y; y = t; }
  if (x === 0) return 0;
  if (y === 0) return x;
  let scale = 1;
  if (x > 2 ** 500) scale = 2 ** (-600);
  else if (x < 2 ** (-500)) scale = 2 ** 600;
  const a = x * scale, b = y * scale;
  const s = a * a + b * b;
  let h = Math.sqrt(s);
  // one Newton step on the exact residual a² + b² - h² brings h to about half an ulp
  const aa = a * a, bq = b * b, hh = h * h;
  const residual = ((aa - hh) + twoProdErr(a, a, aa)) + bq + twoProdErr(b, b, bq) - twoProdErr(h, h, hh);
  h = h + residual / (2 * h);
  return h / scale;
}

// σ(x) = 1/(1 + e^-x), without overflow.
function sigmoid(x) {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

// σ'(x) = e^-|x| / (1 + e^-|x|)².
function sigmoidPrime(x) {
  const e = Math.exp(-Math.abs(x));
  const d = 1 + e;
  return e / (d * d);
}

// log(1 + e^x), without overflow.
function softplus(x) {
  if (x > 0) return x + Math.log1p(Math.exp(-x));
  return Math.log1p(Math.exp(x));
}

// ---------------------------------------------------------------------------------------
// erf and erfc, our own approximations. The constants between the BEGIN and END lines are
// derived, and regenerated exactly, by erf_fit.py in this folder (Chebyshev fits of functions
// evaluated by mpmath at 60 digits; `python3 erf_fit.py --check` confirms that this file
// holds its output). The forms, for x >= 0 (erf(-x) = -erf(x), erfc(-x) = 2 - erfc(x)):
//   x < 0.5:       erf(x) = x + x·(C0 + C0lo) + x·z·R1(z), z = x², C0 + C0lo = 2/√π - 1;
//                  erfc(x) = 1 - erf(x), arranged so that the last subtraction rounds little
//   0.5 <= x < 1:  erf(x) = f(m + u) = (C0 + C0lo) + u·(C1 + C1lo) + u²·Q(u) about m = 0.75
//   x >= 0.5:      erfc(x) = e^(-x²)·G(x), G(x) = e^(x²)·erfc(x) (smooth, about 1/(x√π)) in the
//                  same form on six pieces [0.5, 1), [1, 2), [2, 4), [4, 8), [8, 16), [16, 28);
//                  G and e^(-x²) are carried as two doubles each and multiplied with one
//                  rounding; erfc(x) = 0 from 28 (it underflows near 27.2)
//   1 <= x < 6:    erf(x) = 1 - erfc(x) (erfc(x) < 0.16, so that its error counts at most a
//                  quarter in erf's ulps); erf(x) = 1 from 6 (1 - erfc(6) rounds to 1)
// Measured against mpmath (50 digits) at 200,000 points in [-30, 30]: erf within 0.75 ulp,
// erfc within 0.8 ulp where it is a normal number (tests/test_js_engine.py checks erf, and
// erfc through GELU, at 3,000 points).
// BEGIN erf_fit.py (generated by examples/js-engine/erf_fit.py: do not edit by hand)
const ERF_SMALL_MAX = 0.5, ERF_MID_MAX = 1;
const ERF_C0 = 0.12837916709551259, ERF_C0_LO = -1.2420116002463032e-17;
const ERF_R1 = [
  -0.37612638903183754, 0.112837916709551, -0.02686617064510409, 0.0052239776243253443,
  -0.00085483267932337829, 0.00012055306294406739, -1.4923829613452872e-05, 1.6389446360450111e-06,
  -1.4787385599052157e-07,
];
// pieces: [a, b, m, C0, C0lo, C1, C1lo, Q (lowest degree first)]
const ERF_MID = [0.5, 1, 0.75, 0.71115563365351508, 4.6974407716428899e-17, 0.64293106919520737, -4.2915570557430673e-17, [
  -0.4821983018964055, 0.026788794549800304, 0.15068696934262898, -0.053242729167727751,
  -0.026872509533347307, 0.018435235177818341, 0.0023017883596355938, -0.0039682604376258092,
  0.0001860297115300557, 0.00062398327417664313, -0.00010612477671962066, -7.5736223247460294e-05,
  2.1417528741598246e-05, 7.0566870541754184e-06,
]];
const EXP_P = [
  0.16666666666666666, 0.041666666666666671, 0.0083333333333333332, 0.0013888888888883332,
  0.00019841269841266136, 2.480158732699005e-05, 2.7557319240918441e-06, 2.7557271831536131e-07,
  2.5052076794862427e-08, 2.0915433598076003e-09, 1.6084825533699739e-10,
];
const LN2_HI = 0.69314718055920821, LN2_LO = 7.3710025651677989e-13;
const ERFC_EXP_MIN = 0.5, ERFC_MAX = 28;
const ERFC_G = [
  [0.5, 1, 0.75, 0.50693765029314486, -5.335681035462232e-17, -0.36797269165579538, 1.5651627317416293e-17, [
    0.2309581315512983, -0.1298360619948811, 0.066790542527568414, -0.031897262039681726,
    0.014289198666016578, -0.0060515322972325728, 0.0024376373530056701, -0.00093851205917229496,
    0.00034675101694238913, -0.00012335448052173582, 4.2364187588347995e-05, -1.4085999417620102e-05,
    4.6398696560768804e-06, -1.4526637482917015e-06,
  ]],
  [1, 2, 1.5, 0.32158541645431749, 1.7007985607722196e-17, -0.16362291773256007, 7.9329215943717936e-18, [
    0.076151039855477401, -0.032930905299562642, 0.013377340953066719, -0.005145957547985195,
    0.0018861348770297687, -0.00066193006640207375, 0.00022330994435076256, -7.2658922433997182e-05,
    2.2864312270508317e-05, -6.9749884473081415e-06, 2.0669700175735424e-06, -5.9610624359301008e-07,
    1.675554924007336e-07, -4.5865507036058921e-08, 1.2299539492101396e-08, -3.4638125203225242e-09,
    8.8753130799829651e-10,
  ]],
  [2, 4, 3, 0.17900115118138996, -5.4272175920200274e-18, -0.054372260007172872, 6.7349216206455405e-19, [
    0.015884371159871336, -0.004479431018372575, 0.0012230390523768064, -0.00032412554449686348,
    8.3554139628707854e-05, -2.0989464460179215e-05, 5.1464365624382208e-06, -1.2333677276404336e-06,
    2.8926667332605638e-07, -6.6466854055801785e-08, 1.4977694833372028e-08, -3.312893855154323e-09,
    7.1983709184131018e-10, -1.5377151070734715e-10, 3.2346235578745938e-11, -6.6910708628562279e-12,
    1.3373561425001283e-12, -2.6882778137683455e-13, 6.548458448326135e-14, -1.2727144509411494e-14,
  ]],
  [4, 8, 6, 0.092776567800538348, 6.2153647555284851e-18, -0.015060353489052321, 2.683192699645003e-19, [
    0.002414446866224427, -0.00038244819447050591, 5.987884970069564e-05, -9.2700385065325566e-06,
    1.4195395538345559e-06, -2.1508605243783345e-07, 3.2255809797497736e-08, -4.7891541387123201e-09,
    7.041770018606908e-10, -1.0256221563460175e-10, 1.4800607688048431e-11, -2.1166923022572285e-12,
    3.0007236840739688e-13, -4.2174621361935157e-14, 5.8745539516697236e-15, -8.1208803317070533e-16,
    1.1239663432062986e-16, -1.5285580269537022e-17, 1.8703424359596516e-18, -2.5137503164960757e-19,
    5.379870225048838e-20, -7.0646841523207516e-21,
  ]],
  [8, 16, 12, 0.046854221014893761, 1.3316767690684354e-18, -0.0038778627380622712, 1.4490982269690094e-19, [
    0.00031986815814651033, -2.6296560202764894e-05, 2.1547178566657936e-06, -1.7597836911015415e-07,
    1.432580911464395e-08, -1.1624742098223023e-09, 9.4029649198772647e-11, -7.5818709987145683e-12,
    6.094394399970381e-13, -4.883594255721283e-14, 3.9013559004737779e-15, -3.1072064051678749e-16,
    2.4672372229951e-17, -1.9532477906643559e-18, 1.5420906413557205e-19, -1.2136395031784302e-20,
    9.4908237418942352e-22, -7.4267849086279532e-23, 6.0095989166506051e-24, -4.6725683354414181e-25,
    2.7332856107789076e-26, -2.1226079245419343e-27, 3.7616138456315499e-28, -2.8846653635437073e-29,
  ]],
  [16, 28, 22, 0.025618570005879453, -7.3746675442003395e-19, -0.0011620868368166564, -7.9101218285179597e-20, [
    5.2659595913009204e-05, -2.3838178203026599e-06, 1.078019331753405e-07, -4.8701161780681462e-09,
    2.1979241928449048e-10, -9.9094153737681929e-12, 4.4632026356412056e-13, -2.0082127949413263e-14,
    9.0269013978524313e-16, -4.0535417664707613e-17, 1.8184407916190518e-18, -8.1496699881347806e-20,
    3.6487582190773651e-21, -1.6312955161732158e-22, 7.2892852693912188e-24, -3.2796003513140651e-25,
    1.4625192893554751e-26, -5.9500321867041564e-28, 2.6493752584045989e-29, -1.8768721105708904e-30,
    8.3315228530856536e-32,
  ]],
];
// END erf_fit.py

function poly(c, z) {               // c[0] + c[1] z + ... (Horner)
  let r = c[c.length - 1];
  for (let i = c.length - 2; i >= 0; i--) r = c[i] + z * r;
  return r;
}

// A piece [a, b, m, C0, C0lo, C1, C1lo, Q] at x in [a, b): f(x) as two doubles [hi, lo]
// (|lo| <= ulp(hi)/2), C0 + u·C1 summed exactly (u = x - m is exact, as m/2 <= x <= 2m).
function pieceParts(p, x) {
  const u = x - p[2];
  const t = p[5] * u, te = twoProdErr(p[5], u, t);
  const hi = p[3] + t, e = twoSumErr(p[3], t, hi);
  const lo = e + te + (p[4] + u * (p[6] + u * poly(p[7], u)));
  const v = hi + lo;
  return [v, (hi - v) + lo];                                // normalized (|lo| < |hi|)
}

// e^(-x²) for 0 <= x < 28, as [hi, lo, k]: e^(-x²) = (hi + lo)·2^k to about 2^-60
// relatively. s, the leading 26 bits of x (Veltkamp's split), makes s² exact, and
// -x² = -s² + (s - x)(s + x), the second term small. k = round(-s²/ln 2) takes out a power
// of two: r = -s² - k·ln 2 is carried as two doubles (k·LN2_HI is exact, and -s² - k·LN2_HI
// is exact by Sterbenz's lemma); then e^r = 1 + r + r²/2 + r³·P(r), the first three terms
// summed exactly.
function expMinusSquareParts(x) {
  const t = SPLITTER * x;
  const s = t - (t - x);
  const a = -(s * s);
  const d = (s - x) * (s + x);
  const k = Math.round(a / Math.LN2);
  const y = a - k * LN2_HI;
  const c = d - k * LN2_LO;
  const r = y + c, rl = twoSumErr(y, c, r);                 // -x² - k ln 2 = r + rl
  const r2 = r * r, r2l = twoProdErr(r, r, r2);
  const h = 0.5 * r2;
  const s1 = 1 + r, e1 = twoSumErr(1, r, s1);
  const hi = s1 + h, e2 = twoSumErr(s1, h, hi);
  const lo = e1 + e2 + 0.5 * r2l + r2 * r * poly(EXP_P, r) + rl * (1 + r);
  const v = hi + lo;
  return [v, (hi - v) + lo, k];                             // normalized (|lo| < |hi|)
}

// erfc(x) for ERFC_EXP_MIN <= x < ERFC_MAX: e^(-x²)·G(x) with one rounding, then scaled by
// 2^k (exact, or one rounding into the subnormals).
function erfcPositive(x) {
  let piece = ERFC_G[0];
  for (const p of ERFC_G) { if (x >= p[0]) piece = p; }
  const [g, gl] = pieceParts(piece, x);
  const [eh, el, k] = expMinusSquareParts(x);
  const p = g * eh, pe = twoProdErr(g, eh, p);
  const v = p + (pe + (g * el + gl * eh));
  if (k >= -1000) return v * 2 ** k;
  return (v * 2 ** (k + 200)) * 2 ** (-200);
}

// erf(x) - x for |x| < ERF_SMALL_MAX.
function erfSmallRest(x) {
  const z = x * x;
  return x * ERF_C0 + x * (ERF_C0_LO + z * poly(ERF_R1, z));
}

function erf(x) {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < ERF_SMALL_MAX) {
    if (ax < 2 ** (-900)) {                                 // scaled: one rounding if subnormal
      const y = x * 2 ** 100;
      return (y + erfSmallRest(y)) * 2 ** (-100);
    }
    return x + erfSmallRest(x);
  }
  let v;
  if (ax < ERF_MID_MAX) {
    v = pieceParts(ERF_MID, ax)[0];
  } else if (ax < 6) {
    v = 1 - erfcPositive(ax);
  } else {
    v = 1;
  }
  return x > 0 ? v : -v;
}

function erfc(x) {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < ERFC_EXP_MIN) {
    const t = erfSmallRest(x);                              // erf(x) = x + t
    if (x < 0.25) return 1 - (x + t);
    return 0.5 + ((0.5 - x) - t);                           // 0.5 - x is exact
  }
  if (x < 0) return ax < ERFC_MAX ? 2 - erfcPositive(ax) : 2;
  return ax < ERFC_MAX ? erfcPositive(ax) : 0;
}

const TWO_OVER_SQRTPI = 1.1283791670955126;
const INV_SQRT_2PI = 0.3989422804014327;
const SQRT1_2_HI = 0.7071067811865476, SQRT1_2_LO = -4.833646656726457e-17;

// Φ(x) = erfc(-x/√2)/2, with x/√2 carried as two doubles: erfc(h + l) ≈ erfc(h) - l·erfc'(h).
function normalCdf(x) {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax > 40) return x > 0 ? 1 : 0;
  const hi = x * SQRT1_2_HI;
  const lo = (ax > 2 ** (-900) ? twoProdErr(x, SQRT1_2_HI, hi) : 0) + x * SQRT1_2_LO;
  const t = -hi, tl = -lo;
  return 0.5 * (erfc(t) - tl * TWO_OVER_SQRTPI * expMinusSquare(t));
}

// φ(x) = e^(-x²/2)/√(2π).
function normalPdf(x) { return expMinusHalfSquare(x) * INV_SQRT_2PI; }

// ---------------------------------------------------------------------------------------
// The ops: each rule takes its argument values and returns [value, partials], the partials
// being d value / d argument (null where the argument is an engine constant, never
// differentiated). Names and meanings: docs/engine-protocol.md, "Scalar ops".

function checkArity(op, args, n) {
  if (args.length !== n) throw new RangeError(`op '${op}' takes ${n} argument(s), got ${args.length}`);
}

function sign(x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }

// x^c with c a constant: c·x^(c-1), c - 1 carried exactly (s + e), x^e ≈ 1 + e·log x.
function powPartial(x, c) {
  const s = c - 1;
  const e = twoSumErr(c, -1, s);
  let d = c * Math.pow(x, s);
  if (e !== 0) d *= 1 + e * Math.log(x);
  return d;
}

function tanhPrime(x, t) {
  if (BUG === "tanh") return 1 - t;                                  // planted bug
  const ax = Math.abs(x);
  if (ax < 0.5) return 1 - t * t;
  const e = Math.exp(-2 * ax);                                       // sech² = 4e/(1+e)²
  const d = 1 + e;
  return (4 * e) / (d * d);
}

// GELU's tanh form: x/2·(1 + tanh u) = x·σ(2u), u = √(2/π)(x + 0.044715 x³), which does not
// cancel for x < 0. Where σ(2u) is not 0 or 1 (|x| < 30), 2u is carried as two doubles (its
// constants and products exact to about 2^-100): σ(2u) is relatively as sensitive to 2u's
// error as 2u is large (up to 745), so a plain double argument would cost hundreds of ulps.
const K2_HI = 1.5957691216057308, K2_LO = -9.96930880911092e-17;   // 2·√(2/π)
const C_HI = 0.044715, C_LO = 2.1960211427085595e-18;              // 0.044715 exactly
function geluTanh(x) {
  let z, zl = 0, slope;
  if (Math.abs(x) < 30) {
    const x2 = x * x, x2l = twoProdErr(x, x, x2);
    const w = C_HI * x2, wl = twoProdErr(C_HI, x2, w) + C_HI * x2l + C_LO * x2;   // c·x²
    const a = 1 + w, al = twoSumErr(1, w, a) + wl;                               // 1 + c·x²
    const b = x * a, bl = twoProdErr(x, a, b) + x * al;                          // x + c·x³
    z = K2_HI * b;
    zl = twoProdErr(K2_HI, b, z) + K2_HI * bl + K2_LO * b;                       // 2u = z + zl
    slope = K2_HI * (1 + 3 * C_HI * x2);                                         // d(2u)/dx
  } else {
    const x2 = x * x;
    z = K2_HI * (x * (1 + C_HI * x2));
    slope = K2_HI * (1 + 3 * C_HI * x2);
  }
  const s0 = sigmoid(z), sp0 = sigmoidPrime(z);
  const s = s0 + zl * sp0;                       // σ(z + zl) ≈ σ(z) + zl·σ'(z)
  const sp = sp0 * (1 + zl * (1 - 2 * s0));      // σ'(z + zl) ≈ σ'(z)(1 + zl(1 - 2σ(z)))
  let d = s;
  if (sp !== 0) d += x * slope * sp;             // (x·slope may overflow where σ' is 0)
  return [x * s, [d]];
}

const RULES = {
  add: [2, (x, y) => [x + y, [1, 1]]],
  sub: [2, (x, y) => [x - y, [1, -1]]],
  mul: [2, (x, y) => [x * y, [y, x]]],
  div: [2, (x, y) => {
    const q = x / y;
    let dy;
    if (Math.abs(q) < 2 ** (-960) && q !== 0 || (q === 0 && x !== 0)) {
      // x/y is (near) subnormal: scale so that -(x/y)/y keeps its precision
      dy = -((x * 2 ** 600 / y) / y) * 2 ** (-600);
    } else {
      dy = -(q / y);
    }
    return [q, [1 / y, dy]];
  }],
  neg: [1, (x) => [-x, [-1]]],
  pow: [2, (x, c) => [Math.pow(x, c), [powPartial(x, c), null]]],
  powv: [2, (x, y) => {
    const v = Math.pow(x, y);
    return [v, [powPartial(x, y), v * Math.log(x)]];
  }],
  exp: [1, (x) => { const v = Math.exp(x); return [v, [v]]; }],
  log: [1, (x) => [Math.log(x), [1 / x]]],
  sin: [1, (x) => [Math.sin(x), [Math.cos(x)]]],
  cos: [1, (x) => [Math.cos(x), [-Math.sin(x)]]],
  tan: [1, (x) => { const t = Math.tan(x); return [t, [1 + t * t]]; }],
  tanh: [1, (x) => { const t = Math.tanh(x); return [t, [tanhPrime(x, t)]]; }],
  sigmoid: [1, (x) => {
    const s = sigmoid(x);
    return [s, [BUG === "sigmoid" ? s * (1 + s) : sigmoidPrime(x)]];
  }],
  sqrt: [1, (x) => { const r = Math.sqrt(x); return [r, [0.5 / r]]; }],
  atan: [1, (x) => {
    if (Math.abs(x) <= 1) return [Math.atan(x), [1 / (1 + x * x)]];
    const r = 1 / x;
    const r2 = r * r;
    return [Math.atan(x), [r2 / (1 + r2)]];
  }],
  log1p: [1, (x) => [Math.log1p(x), [1 / (1 + x)]]],
  expm1: [1, (x) => [Math.expm1(x), [Math.exp(x)]]],
  abs: [1, (x) => [Math.abs(x), [sign(x)]]],
  relu: [1, (x) => [x > 0 ? x : 0, [x > 0 ? 1 : 0]]],
  maximum: [2, (x, y) => [x >= y ? x : y, x > y ? [1, 0] : x < y ? [0, 1] : [0.5, 0.5]]],
  minimum: [2, (x, y) => [x <= y ? x : y, x < y ? [1, 0] : x > y ? [0, 1] : [0.5, 0.5]]],
  erf: [1, (x) => [erf(x), [TWO_OVER_SQRTPI * expMinusSquare(x)]]],
  gelu: [1, (x) => {
    const cdf = normalCdf(x);
    return [x * cdf, [cdf + x * normalPdf(x)]];
  }],
  gelu_tanh: [1, (x) => geluTanh(x)],
  silu: [1, (x) => {
    const s = sigmoid(x);
    return [x * s, [s * (1 + x * sigmoid(-x))]];
  }],
  softplus: [1, (x) => [softplus(x), [sigmoid(x)]]],
  logsigmoid: [1, (x) => [-softplus(-x), [sigmoid(-x)]]],
  elu: [1, (x) => x > 0 ? [x, [1]] : [Math.expm1(x), [Math.exp(x)]]],
  leaky_relu: [2, (x, a) => [x > 0 ? x : a * x, [x > 0 ? 1 : a, null]]],
  sinh: [1, (x) => [Math.sinh(x), [Math.cosh(x)]]],
  cosh: [1, (x) => [Math.cosh(x), [Math.sinh(x)]]],
  asin: [1, (x) => [Math.asin(x), [1 / Math.sqrt((1 - x) * (1 + x))]]],
  acos: [1, (x) => [Math.acos(x), [-1 / Math.sqrt((1 - x) * (1 + x))]]],
  asinh: [1, (x) => {
    const ax = Math.abs(x);
    if (ax <= 1) return [Math.asinh(x), [1 / Math.sqrt(1 + x * x)]];
    const r = 1 / ax;
    return [Math.asinh(x), [r / Math.sqrt(1 + r * r)]];
  }],
  atan2: [2, (y, x) => {
    const h = hypot(x, y);
    return [Math.atan2(y, x), [(x / h) / h, -((y / h) / h)]];
  }],
  hypot: [2, (x, y) => {
    const h = hypot(x, y);
    return [h, [x / h, y / h]];
  }],
  logaddexp: [2, (x, y) => {
    if (x === y) return [x + Math.LN2, [0.5, 0.5]];
    const m = Math.max(x, y);
    const d = x - y;                          // d + de = x - y exactly
    const de = twoSumErr(x, -y, d);
    const v = m + Math.log1p(Math.exp(-Math.abs(d)));
    // σ(d + de) ≈ σ(d) + de·σ'(d)
    const sp = sigmoidPrime(d);
    const dx = sigmoid(d) + de * sp, dy = sigmoid(-d) - de * sp;
    return [v, [dx, dy]];
  }],
  square: [1, (x) => [x * x, [2 * x]]],
  rsqrt: [1, (x) => { const r = 1 / Math.sqrt(x); return [r, [-0.5 * (r / x)]]; }],
  reciprocal: [1, (x) => { const r = 1 / x; return [r, [-(r * r)]]; }],
  clamp: [3, (x, lo, hi) => {
    const v = x < lo ? lo : x > hi ? hi : x;
    return [v, [x >= lo && x <= hi ? 1 : 0, null, null]];
  }],
};

const SCALAR_OPS = Object.keys(RULES);

// ---------------------------------------------------------------------------------------
// The graph: one node per entry of `nodes`, each evaluated once; a node used by several
// nodes is one node. Every op node records its arguments and local partials (the tape).

class Node {
  constructor(op, value, args, partials, name) {
    this.op = op; this.value = value; this.args = args; this.partials = partials;
    this.name = name;        // variables only
  }
}

function asScalar(v, what) {
  if (typeof v === "number") return v;
  if (v !== null && typeof v === "object" && "shape" in v) {
    throw new TypeError(`${what}: tensor checks are not supported (this engine is scalar only)`);
  }
  if (typeof v === "string") {
    const named = { nan: NaN, inf: Infinity, "-inf": -Infinity };
    if (v in named) return named[v];
    const hex = parseHexFloat(v);
    if (hex !== null) return hex;
  }
  throw new TypeError(`${what}: not a number: ${JSON.stringify(v)}`);
}

// "0x1.921fb54442d18p+1" -> the double (C99 hex floats, exact for doubles' digits).
function parseHexFloat(s) {
  const m = /^([+-]?)0x([0-9a-f]*)(?:\.([0-9a-f]*))?p([+-]?\d+)$/i.exec(s);
  if (!m || (m[2] + (m[3] || "")).length === 0) return null;
  const digits = m[2] + (m[3] || "");
  let mant = BigInt("0x" + digits);
  let exp = parseInt(m[4], 10) - 4 * (m[3] || "").length;
  let v;
  if (mant === 0n) v = 0;
  else {
    // exact as long as the mantissa fits 53 bits (true of every double's %a)
    v = Number(mant);
    v = v * Math.pow(2, Math.max(-1074, Math.min(1023, exp)));
    const rest = exp - Math.max(-1074, Math.min(1023, exp));
    if (rest) v *= Math.pow(2, rest);
  }
  return m[1] === "-" ? -v : v;
}

function buildGraph(expression, point) {
  if (expression === null || typeof expression !== "object") throw new TypeError("no expression");
  if (expression.format !== undefined && expression.format !== "adverify-expr") {
    throw new TypeError(`unknown expression format '${expression.format}'`);
  }
  const specs = expression.nodes;
  if (!Array.isArray(specs) || specs.length === 0) throw new TypeError("expression has no nodes");
  const nodes = [];
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i];
    const op = spec.op;
    if (op === "var") {
      if (!Object.prototype.hasOwnProperty.call(point, spec.name)) {
        throw new ReferenceError(`variable '${spec.name}' has no value in the point`);
      }
      nodes.push(new Node("var", asScalar(point[spec.name], `variable '${spec.name}'`), [], [], spec.name));
    } else if (op === "const") {
      nodes.push(new Node("const", asScalar(spec.value, `constant of node ${i}`), [], []));
    } else if (op === "tconst" || op === "iconst") {
      throw new TypeError(`node ${i}: '${op}': tensor checks are not supported (this engine is scalar only)`);
    } else {
      if (!Object.prototype.hasOwnProperty.call(RULES, op)) throw new TypeError(`unknown op '${op}'`);
      const [arity, rule] = RULES[op];
      const args = spec.args || [];
      checkArity(op, args, arity);
      for (const a of args) {
        if (!Number.isInteger(a) || a < 0 || a >= i) {
          throw new RangeError(`node ${i} (${op}): argument ${JSON.stringify(a)} is not an earlier node`);
        }
      }
      const argNodes = args.map((a) => nodes[a]);
      const [value, partials] = rule(...argNodes.map((n) => n.value));
      nodes.push(new Node(op, value, argNodes, partials));
    }
  }
  const out = expression.output;
  if (!Number.isInteger(out) || out < 0 || out >= nodes.length) {
    throw new RangeError(`output ${JSON.stringify(out)} is not a node`);
  }
  return { nodes, output: nodes[out] };
}

// Reverse mode: seed the output's adjoint with 1, then visit the nodes in reverse
// topological order (the reverse of `nodes`), each adding adjoint · partial into its
// arguments' adjoints: a node reached along several paths sums them.
function reverseGradients(graph, variables) {
  const { nodes, output } = graph;
  const adjoint = new Map();
  adjoint.set(output, 1);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if (!adjoint.has(node)) continue;           // not on any path to the output
    const g = adjoint.get(node);
    for (let k = 0; k < node.args.length; k++) {
      const p = node.partials[k];
      if (p === null) continue;                 // an engine constant: never differentiated
      const arg = node.args[k];
      const contribution = g * p;
      if (BUG === "accumulate" || !adjoint.has(arg)) adjoint.set(arg, contribution);   // planted bug: '='
      else adjoint.set(arg, adjoint.get(arg) + contribution);
    }
  }
  return variables.map((name) => {
    let total = 0, seen = false;
    for (const node of nodes) {                 // one var node per name, but be tolerant
      if (node.op === "var" && node.name === name && adjoint.has(node)) {
        total = seen ? total + adjoint.get(node) : adjoint.get(node);
        seen = true;
      }
    }
    return total;
  });
}

// Forward mode: one sweep per variable, each node's tangent being Σ partial · tangent of
// its arguments, in topological order.
function forwardGradients(graph, variables) {
  const { nodes, output } = graph;
  return variables.map((name) => {
    const tangent = new Map();
    for (const node of nodes) {
      let t = 0;
      if (node.op === "var") t = node.name === name ? 1 : 0;
      else if (node.op !== "const") {
        for (let k = 0; k < node.args.length; k++) {
          const p = node.partials[k];
          if (p === null) continue;
          const ta = tangent.get(node.args[k]);
          if (ta !== 0) t += p * ta;
        }
      }
      tangent.set(node, t);
    }
    return tangent.get(output);
  });
}

// ---------------------------------------------------------------------------------------
// The protocol.

function num(x) {              // a double as protocol text: NaN and ±Infinity as strings
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  return x;
}

function hello(request) {
  if (request.protocol !== PROTOCOL) {
    throw new Error(`js-engine speaks protocol ${PROTOCOL}, not ${JSON.stringify(request.protocol)}`);
  }
  return {
    protocol: PROTOCOL,
    name: ENGINE_NAME,
    dtype: "float64",
    ops: SCALAR_OPS,
    capabilities: { value: true, forward_gradients: true },
  };
}

function check(request, method) {
  const variables = request.variables;
  if (!Array.isArray(variables)) throw new TypeError("request has no list of variables");
  const graph = buildGraph(request.expression, request.point || {});
  const answer = {};
  if (request.value === true) answer.value = num(graph.output.value);
  const gradients = method === "gradients" ? reverseGradients(graph, variables) : forwardGradients(graph, variables);
  answer[method] = gradients.map(num);
  return answer;
}

const METHODS = {
  hello,
  gradients: (r) => check(r, "gradients"),
  forward_gradients: (r) => check(r, "forward_gradients"),
};

// engine.js:LINE of the innermost frame in this file, from an exception's stack.
function origin(error) {
  const stack = (error && typeof error.stack === "string") ? error.stack : "";
  const file = __filename.replace(/\\/g, "/");
  const base = file.slice(file.lastIndexOf("/") + 1);
  for (const line of stack.split("\n")) {
    const idx = line.indexOf(file);
    if (idx < 0) continue;
    const m = /^:(\d+)(?::\d+)?/.exec(line.slice(idx + file.length));
    if (m) return `${base}:${m[1]}`;
  }
  return undefined;
}

function send(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function answer(line) {
  if (line.trim() === "") return;
  let request;
  try {
    request = JSON.parse(line);
  } catch (error) {
    process.stderr.write(`js-engine: a request that is not JSON: ${line.slice(0, 200)}\n`);
    send({ id: null, error: `request is not JSON: ${error.message}` });
    return;
  }
  const id = request && typeof request === "object" ? request.id : null;
  try {
    const method = request.method;
    if (!Object.prototype.hasOwnProperty.call(METHODS, method)) {
      throw new Error(`unknown method ${JSON.stringify(method)}`);
    }
    const reply = METHODS[method](request);
    send({ id, ...reply });
  } catch (error) {
    const message = `${error && error.name ? error.name : "Error"}: ${error && error.message !== undefined ? error.message : String(error)}`;
    const reply = { id, error: message };
    const where = origin(error);
    if (where) reply.origin = where;
    process.stderr.write(`js-engine: request ${JSON.stringify(id)}: ${message}\n`);
    send(reply);
  }
}

// Lines arrive on stdin; split them ourselves (a line may be long; no readline quirks).
let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  pending += chunk;
  let nl;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const line = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    answer(line.endsWith("\r") ? line.slice(0, -1) : line);
  }
});
process.stdin.on("end", () => {
  if (pending.trim() !== "") answer(pending);   // a last line without its '\n'
  pending = "";
  // nothing else keeps Node alive: the process exits once stdout is written
});
