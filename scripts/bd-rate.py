#!/usr/bin/env python3
"""Bjøntegaard delta rate (VCEG-M33) of a test encoder against an anchor, at equal PSNR and at
equal SSIM (in dB, -10 log10(1 - SSIM)).

Each curve is a list of points "bitrate,psnr,ssim" (kb/s, dB, 0..1), one per line, in a file
(or "-" for standard input); blank lines, lines starting with '#' and a header line that is
not numbers are skipped. Columns beyond the third are ignored.

    scripts/bd-rate.py ANCHOR.csv TEST.csv
    scripts/bd-rate.py --self-test

Method: for each curve, fit log(rate) as a cubic polynomial of quality by least squares
(exact interpolation with four points), integrate both fits over the quality interval the
two curves share, and report exp(mean difference) - 1 as a percentage. Negative means the
test encoder needs fewer bits than the anchor for the same quality. Standard library only.
"""

import math
import sys


def ssim_db(ssim):
    """SSIM on a dB scale, where equal steps mean equal ratios of remaining error."""
    if ssim >= 1.0:
        return 100.0
    return min(100.0, -10.0 * math.log10(1.0 - ssim))


def solve(matrix, vector):
    """Solves a small dense linear system by Gaussian elimination with partial pivoting."""
    n = len(vector)
    a = [row[:] + [vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-12:
            raise ValueError("singular system: the qualities are too few or repeat")
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(col + 1, n):
            f = a[r][col] / a[col][col]
            for c in range(col, n + 1):
                a[r][c] -= f * a[col][c]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][c] * x[c] for c in range(r + 1, n))) / a[r][r]
    return x


class CubicFit:
    """y ~ c0 + c1 t + c2 t^2 + c3 t^3 with t = (x - centre) / scale, by least squares.

    Centring and scaling x keeps the normal equations well conditioned (qualities near 40 dB
    raised to the sixth power would otherwise swamp the small terms).
    """

    def __init__(self, xs, ys):
        if len(xs) < 4:
            raise ValueError(f"a cubic fit needs at least 4 points, got {len(xs)}")
        self.centre = sum(xs) / len(xs)
        self.scale = (max(xs) - min(xs)) / 2 or 1.0
        ts = [(x - self.centre) / self.scale for x in xs]
        normal = [[sum(t ** (i + j) for t in ts) for j in range(4)] for i in range(4)]
        rhs = [sum(y * t**i for t, y in zip(ts, ys)) for i in range(4)]
        self.coeffs = solve(normal, rhs)

    def __call__(self, x):
        t = (x - self.centre) / self.scale
        return sum(c * t**i for i, c in enumerate(self.coeffs))

    def integral(self, lo, hi):
        """Integral of the fit over x in [lo, hi]."""

        def antiderivative(x):
            t = (x - self.centre) / self.scale
            return self.scale * sum(c * t ** (i + 1) / (i + 1) for i, c in enumerate(self.coeffs))

        return antiderivative(hi) - antiderivative(lo)


def bd_rate(anchor, test):
    """BD-rate in percent of `test` against `anchor`, each a list of (rate, quality) pairs;
    None when the quality ranges do not overlap."""
    for name, curve in (("anchor", anchor), ("test", test)):
        if any(rate <= 0 for rate, _ in curve):
            raise ValueError(f"{name}: bitrates must be positive")
        if len({q for _, q in curve}) < 4:
            raise ValueError(f"{name}: needs at least 4 distinct quality values")
    lo = max(min(q for _, q in anchor), min(q for _, q in test))
    hi = min(max(q for _, q in anchor), max(q for _, q in test))
    if hi <= lo:
        return None
    fits = [CubicFit([q for _, q in c], [math.log(r) for r, _ in c]) for c in (anchor, test)]
    mean_difference = (fits[1].integral(lo, hi) - fits[0].integral(lo, hi)) / (hi - lo)
    return (math.exp(mean_difference) - 1.0) * 100.0


def read_points(path):
    """(bitrate, psnr, ssim) triples from a CSV-ish file."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")
    points = []
    with stream:
        for number, line in enumerate(stream, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = [f.strip() for f in line.replace(";", ",").split(",")]
            try:
                rate, psnr, ssim = (float(f) for f in fields[:3])
            except ValueError:
                if not points and number == 1:
                    continue  # a header line
                raise SystemExit(f"{path}:{number}: expected bitrate,psnr,ssim, got {line!r}")
            points.append((rate, psnr, ssim))
    return points


def describe(value):
    return "n/a (quality ranges do not overlap)" if value is None else f"{value:+.2f}%"


def report(anchor, test):
    """Prints and returns the BD-rates at equal PSNR and at equal SSIM (dB)."""
    psnr = bd_rate([(r, p) for r, p, _ in anchor], [(r, p) for r, p, _ in test])
    ssim = bd_rate([(r, ssim_db(s)) for r, _, s in anchor], [(r, ssim_db(s)) for r, _, s in test])
    print(f"BD-rate at equal PSNR:      {describe(psnr)}")
    print(f"BD-rate at equal SSIM (dB): {describe(ssim)}")
    return psnr, ssim


def self_test():
    """Checks the method on curves whose BD-rate is known exactly."""
    failures = []

    def expect(name, got, want, tolerance=1e-6):
        ok = got is not None and abs(got - want) <= tolerance
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {got if got is None else round(got, 6)} (want {want})")
        if not ok:
            failures.append(name)

    anchor = [(300, 32.1, 0.90), (600, 34.8, 0.935), (1000, 36.9, 0.955), (1600, 38.7, 0.968),
              (2400, 40.2, 0.977)]
    rp = lambda c: [(r, p) for r, p, _ in c]
    expect("identical curves", bd_rate(rp(anchor), rp(anchor)), 0.0)
    expect("10% more rate at every quality", bd_rate(rp(anchor), [(r * 1.1, p) for r, p in rp(anchor)]), 10.0)
    expect("20% less rate at every quality", bd_rate(rp(anchor), [(r * 0.8, p) for r, p in rp(anchor)]), -20.0)
    # log(rate) linear in quality with slope b (per dB); a curve 1 dB worse at every rate
    # needs exp(b) times the rate for equal quality, whatever the interval.
    b = 0.23
    line = [(math.exp(1.0 + b * q), q) for q in (30.0, 33.0, 36.0, 39.0, 42.0)]
    worse = [(r, q - 1.0) for r, q in line]
    expect("1 dB worse, log-linear", bd_rate(line, worse), (math.exp(b) - 1) * 100)
    # An exact cubic is fitted exactly, also through more than four points.
    cubic = lambda q: 0.5 + 0.3 * q - 0.004 * q * q + 0.00005 * q**3
    curve = [(math.exp(cubic(q)), q) for q in (28, 31, 34, 37, 40, 43)]
    shifted = [(math.exp(cubic(q) + 0.05), q) for q in (29.5, 32, 35.5, 38, 41.5)]
    expect("cubic with a constant log offset", bd_rate(curve, shifted), (math.exp(0.05) - 1) * 100)
    # Order of points does not matter; ranges that do not meet give no number.
    expect("unordered points", bd_rate(rp(anchor)[::-1], [(r * 1.1, p) for r, p in rp(anchor)]), 10.0)
    far = [(r, p + 20) for r, p in rp(anchor)]
    ok = bd_rate(rp(anchor), far) is None
    print(f"{'ok  ' if ok else 'FAIL'} disjoint quality ranges give n/a")
    if not ok:
        failures.append("disjoint")
    # The fit itself: least squares of noisy data recovers a known cubic closely.
    xs = [i * 0.5 for i in range(20)]
    ys = [1 - 2 * x + 0.5 * x * x - 0.03 * x**3 + (0.001 if i % 2 else -0.001) for i, x in enumerate(xs)]
    fit = CubicFit(xs, ys)
    expect("least-squares cubic at x=3.3", fit(3.3), 1 - 6.6 + 0.5 * 3.3**2 - 0.03 * 3.3**3, 1e-3)
    expect("integral of the fit over [1, 4]", fit.integral(1, 4),
           (4 - 1) - (16 - 1) + 0.5 * (64 - 1) / 3 - 0.03 * (256 - 1) / 4, 1e-2)
    print("self-test:", "FAILED " + ", ".join(failures) if failures else "all passed")
    return not failures


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return 0 if self_test() else 1
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    anchor, test = read_points(argv[1]), read_points(argv[2])
    try:
        report(anchor, test)
    except ValueError as error:
        print(f"bd-rate: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
