#!/usr/bin/env python3
"""Derives the constants of engine.js's erf and erfc (the block between the lines
"// BEGIN erf_fit.py" and "// END erf_fit.py") and prints them as JavaScript.

    python3 examples/js-engine/erf_fit.py            # print the block
    python3 examples/js-engine/erf_fit.py --check    # exit 1 unless engine.js holds it

Nothing here is copied from another implementation: every constant is a Chebyshev fit
(mpmath.chebyfit, near-minimax) of a function evaluated by mpmath at 60 digits, then rounded
to doubles. The forms (engine.js says how it evaluates them):

- erf(x) = x + x*(C0 + C0lo) + x*z*R1(z) for |x| < 0.5, z = x^2, C0 + C0lo = 2/sqrt(pi) - 1
  as two doubles, R1(z) = (erf(sqrt z)/sqrt z - 2/sqrt(pi))/z a polynomial in z;
- a "piece" f on [a, b) is f(m + u) = (C0 + C0lo) + u*(C1 + C1lo) + u^2*Q(u), m = (a + b)/2
  (u = x - m is exact in doubles as m/2 <= x <= 2m), C0 + C0lo = f(m) and C1 + C1lo = f'(m)
  as two doubles each, Q(u) = (f(m + u) - f(m) - u f'(m))/u^2 a polynomial in u:
  erf on [0.5, 1), and G(x) = e^(x^2) erfc(x) (entire, smooth, about 1/(x sqrt(pi)) for
  large x) on [0.5, 1), [1, 2), [2, 4), [4, 8), [8, 16), [16, 28), for
  erfc(x) = e^(-x^2) G(x);
- e^r = 1 + r + r^2/2 + r^3*P(r) for |r| <= 0.35 (e^(-x^2)'s argument less k*ln 2), with
  LN2_HI = ln 2 cut to 40 bits (so k*LN2_HI is exact) and LN2_LO = ln 2 - LN2_HI rounded.

Each fit's degree is the smallest whose estimated error is below 2^-62 relative to the
function it serves (far below the roundoff of evaluating it); the script reports, on
standard error, the error of the rounded coefficients measured at 2,001 points per fit.
"""

import sys
from pathlib import Path

import mpmath as mp

mp.mp.dps = 60

ERF_SMALL_MAX = mp.mpf("0.5")           # erf(x) = x + x R(x^2) below this |x|
ERF_MID = (0.5, 1.0)                    # erf(x) fitted about 0.75 (then 1 - erfc(x))
ERFC_PIECES = [(0.5, 1.0), (1.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 16.0), (16.0, 28.0)]
EXP_R_MAX = mp.mpf("0.35")              # |r| <= ln(2)/2 plus the (tiny) rest of -x^2
TARGET = mp.mpf(2) ** -62               # relative error of each fit


def double(x):
    """x rounded to the nearest double."""
    return float(mp.mpf(x))


def js(x):
    return "%.17g" % x


def js_list(values, indent="  "):
    """A JavaScript array literal, four numbers a line."""
    items = [js(v) for v in values]
    lines = [", ".join(items[i:i + 4]) for i in range(0, len(items), 4)]
    return "[\n" + ",\n".join(indent + "  " + line for line in lines) + ",\n" + indent + "]"


def fit(f, a, b, scale, name):
    """The lowest-degree Chebyshev fit of f on [a, b] within TARGET * scale; its
    coefficients as doubles, lowest degree first."""
    a, b = mp.mpf(a), mp.mpf(b)
    for n in range(2, 40):
        poly, err = mp.chebyfit(f, [a, b], n, error=True)
        if err <= TARGET * scale:
            break
    else:
        raise SystemExit(f"{name}: no fit within the target below 40 terms")
    coefficients = [double(c) for c in reversed(poly)]
    # the error of the rounded coefficients, sampled (in exact arithmetic)
    worst = mp.mpf(0)
    for i in range(2001):
        x = a + (b - a) * i / 2000
        p = mp.polyval([mp.mpf(c) for c in reversed(coefficients)], x)
        worst = max(worst, abs(f(x) - p) / scale)
    print(f"{name}: {n} terms on [{mp.nstr(a, 6)}, {mp.nstr(b, 6)}], "
          f"rounded-coefficient error {mp.nstr(worst, 3)} (2^{mp.nstr(mp.log(worst, 2), 3) if worst else '-inf'})"
          f" relative", file=sys.stderr)
    return coefficients


K = 2 / mp.sqrt(mp.pi)


def G(x):
    """e^(x^2) erfc(x)."""
    return mp.erfc(x) * mp.exp(x * x)


def erf_small():
    """erf(x) = x + x*(C0 + C0lo) + x*z*R1(z), z = x^2: C0 + C0lo = 2/sqrt(pi) - 1 (two
    doubles) and R1(z) = (erf(sqrt z)/sqrt z - 2/sqrt(pi))/z, a polynomial in z."""
    c0 = K - 1

    def R1(z):
        if z < mp.mpf(10) ** -12:               # the series, past the cancellation
            return K * (-mp.mpf(1) / 3 + z / 10 - z * z / 42)
        r = mp.sqrt(z)
        return (mp.erf(r) / r - K) / z
    zmax = ERF_SMALL_MAX ** 2
    # x*z*R1's error against erf(x) >= x: R1's error counts relative to 1/zmax
    r1 = fit(R1, 0, zmax, 1 / zmax, "erf R1(x^2)")
    return double(c0), double(c0 - double(c0)), r1


def piece(f, a, b, name):
    """f(m + u) = (C0 + C0lo) + u*(C1 + C1lo) + u^2*Q(u) on [a, b], m = (a + b)/2: C0 + C0lo
    = f(m) and C1 + C1lo = f'(m) as two doubles each, Q(u) = (f(m+u) - f(m) - u f'(m))/u^2
    a polynomial in u. f is positive and monotone on [a, b]."""
    m = mp.mpf(a + b) / 2
    assert double(m) == m and a >= m / 2 and b <= 2 * m   # then x - m is exact
    t = mp.taylor(f, m, 4)                                 # f^(k)(m)/k!

    def Q(u):
        if abs(u) < mp.mpf(10) ** -10:                     # the series, past the cancellation
            return t[2] + u * t[3] + u * u * t[4]
        return (f(m + u) - t[0] - u * t[1]) / (u * u)
    h = (mp.mpf(b) - a) / 2
    # u^2*Q's error relative to f's smallest value on the piece
    scale = min(f(mp.mpf(a)), f(mp.mpf(b))) / h ** 2
    q = fit(Q, a - m, b - m, scale, name)
    c0, c1 = double(t[0]), double(t[1])
    return [a, b, double(m), c0, double(t[0] - c0), c1, double(t[1] - c1), q]


def exp_poly():
    """e^r = 1 + r + r^2/2 + r^3*P(r): P, a polynomial in r on [-EXP_R_MAX, EXP_R_MAX]."""
    def P(r):
        if abs(r) < mp.mpf(10) ** -10:        # the series, past the cancellation
            return 1 / mp.mpf(6) + r / 24 + r * r / 120
        return (mp.exp(r) - 1 - r - r * r / 2) / r ** 3
    # r^3*P's error against e^r >= 0.7: P's error counts relative to 0.7/0.35^3 = 16
    return fit(P, -EXP_R_MAX, EXP_R_MAX, mp.mpf(16), "exp P(r)")


def js_piece(p, indent):
    head = ", ".join(js(v) for v in p[:7])
    return f"[{head}, {js_list(p[7], indent)}]"


def block():
    ln2 = mp.log(2)
    ln2_hi = mp.floor(ln2 * 2 ** 40) / 2 ** 40
    ln2_lo = double(ln2 - ln2_hi)
    c0, c0_lo, r1 = erf_small()
    lines = [
        "// BEGIN erf_fit.py (generated by examples/js-engine/erf_fit.py: do not edit by hand)",
        f"const ERF_SMALL_MAX = {js(double(ERF_SMALL_MAX))}, ERF_MID_MAX = {js(ERF_MID[1])};",
        f"const ERF_C0 = {js(c0)}, ERF_C0_LO = {js(c0_lo)};",
        f"const ERF_R1 = {js_list(r1, '')};",
        "// pieces: [a, b, m, C0, C0lo, C1, C1lo, Q (lowest degree first)]",
        f"const ERF_MID = {js_piece(piece(mp.erf, *ERF_MID, f'erf on {list(ERF_MID)}'), '')};",
        f"const EXP_P = {js_list(exp_poly(), '')};",
        f"const LN2_HI = {js(double(ln2_hi))}, LN2_LO = {js(ln2_lo)};",
        f"const ERFC_EXP_MIN = {js(ERFC_PIECES[0][0])}, ERFC_MAX = {js(ERFC_PIECES[-1][1])};",
        "const ERFC_G = [",
    ]
    for a, b in ERFC_PIECES:
        lines.append("  " + js_piece(piece(G, a, b, f"erfc G on [{a}, {b}]"), "  ") + ",")
    lines.append("];")
    lines.append("// END erf_fit.py")
    return "\n".join(lines) + "\n"


def main(argv):
    text = block()
    if argv[1:] == ["--check"]:
        engine = (Path(__file__).resolve().parent / "engine.js").read_text()
        begin = engine.index("// BEGIN erf_fit.py")
        end = engine.index("// END erf_fit.py") + len("// END erf_fit.py\n")
        if engine[begin:end] != text:
            print("engine.js's erf constants differ from erf_fit.py's", file=sys.stderr)
            return 1
        print("engine.js's erf constants are erf_fit.py's", file=sys.stderr)
        return 0
    if argv[1:]:
        print(__doc__, file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
