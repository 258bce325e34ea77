#!/usr/bin/env python3
"""Bjøntegaard delta rate (VCEG-M33) of a test encoder against an anchor, at equal PSNR and at
equal SSIM (in dB, -10 log10(1 - SSIM)).

Each curve is a list of points "bitrate,psnr,ssim" (kb/s, dB, 0..1), one per line, in a file
(or "-" for standard input); blank lines, lines starting with '#' and a header line that is
not numbers are skipped. Columns beyond the third are ignored.

    scripts/bd-rate.py [--cubic] ANCHOR.csv TEST.csv
    scripts/bd-rate.py --self-test

Method: for each curve, interpolate log(rate) as a function of quality, integrate both
curves over the quality interval they share, and report exp(mean difference) - 1 as a
percentage. Negative means the test encoder needs fewer bits than the anchor for the same
quality. Standard library only.

The interpolation is piecewise cubic and shape-preserving (PCHIP, Fritsch-Carlson slopes),
as in today's common BD-rate tools: it passes through every point and never swings beyond
its neighbours. `--cubic` fits one cubic polynomial by least squares instead, the original
VCEG-M33 method, which is exact through four points but can swing wildly between them: a
curve with two points at almost the same quality and different rates (a static scene whose
keyframe reaches quantizer 0 at two levels) gave +1187% where the curves lie within 6% of
each other.
"""

import bisect
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


class Pchip:
    """Piecewise cubic Hermite interpolation of y(x) with Fritsch-Carlson slopes: monotone
    between points where the data are, flat at local extrema. Points sharing an x are
    merged (their mean y)."""

    def __init__(self, xs, ys):
        merged = {}
        for x, y in zip(xs, ys):
            merged.setdefault(x, []).append(y)
        self.xs = sorted(merged)
        self.ys = [sum(merged[x]) / len(merged[x]) for x in self.xs]
        if len(self.xs) < 2:
            raise ValueError("an interpolation needs at least 2 distinct x values")
        h = [b - a for a, b in zip(self.xs, self.xs[1:])]
        d = [(b - a) / w for a, b, w in zip(self.ys, self.ys[1:], h)]
        n = len(self.xs)
        if n == 2:
            self.slopes = [d[0], d[0]]
            return
        m = [0.0] * n
        for k in range(1, n - 1):
            if d[k - 1] * d[k] > 0:
                w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
                m[k] = (w1 + w2) / (w1 / d[k - 1] + w2 / d[k])
        m[0] = self._end_slope(h[0], h[1], d[0], d[1])
        m[-1] = self._end_slope(h[-1], h[-2], d[-1], d[-2])
        self.slopes = m

    @staticmethod
    def _end_slope(h0, h1, d0, d1):
        """A three-point end slope, kept from overshooting (scipy's PCHIP rule)."""
        m = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1)
        if m * d0 <= 0:
            return 0.0
        if d0 * d1 <= 0 and abs(m) > 3 * abs(d0):
            return 3 * d0
        return m

    def __call__(self, x):
        k = max(0, min(len(self.xs) - 2, bisect.bisect_right(self.xs, x) - 1))
        x0, x1 = self.xs[k], self.xs[k + 1]
        w = x1 - x0
        t = (x - x0) / w
        y0, y1, m0, m1 = self.ys[k], self.ys[k + 1], self.slopes[k], self.slopes[k + 1]
        return ((2 * t**3 - 3 * t**2 + 1) * y0 + (t**3 - 2 * t**2 + t) * w * m0
                + (-2 * t**3 + 3 * t**2) * y1 + (t**3 - t**2) * w * m1)

    def integral(self, lo, hi):
        """Integral over [lo, hi] (inside the points' range): two-point Gauss-Legendre on
        each piece, exact for cubics."""
        cuts = [lo] + [x for x in self.xs if lo < x < hi] + [hi]
        node = 0.5 / math.sqrt(3.0)
        total = 0.0
        for a, b in zip(cuts, cuts[1:]):
            mid, w = (a + b) / 2, b - a
            total += w / 2 * (self(mid - node * w) + self(mid + node * w))
        return total


def bd_rate(anchor, test, method="pchip"):
    """BD-rate in percent of `test` against `anchor`, each a list of (rate, quality) pairs,
    interpolated by `method` ("pchip" or "cubic"); None when the quality ranges do not
    overlap."""
    for name, curve in (("anchor", anchor), ("test", test)):
        if any(rate <= 0 for rate, _ in curve):
            raise ValueError(f"{name}: bitrates must be positive")
        if len({q for _, q in curve}) < 4:
            raise ValueError(f"{name}: needs at least 4 distinct quality values")
    lo = max(min(q for _, q in anchor), min(q for _, q in test))
    hi = min(max(q for _, q in anchor), max(q for _, q in test))
    if hi <= lo:
        return None
    fit = {"pchip": Pchip, "cubic": CubicFit}[method]
    fits = [fit([q for _, q in c], [math.log(r) for r, _ in c]) for c in (anchor, test)]
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


def report(anchor, test, method):
    """Prints and returns the BD-rates at equal PSNR and at equal SSIM (dB)."""
    psnr = bd_rate([(r, p) for r, p, _ in anchor], [(r, p) for r, p, _ in test], method)
    ssim = bd_rate([(r, ssim_db(s)) for r, _, s in anchor], [(r, ssim_db(s)) for r, _, s in test],
                   method)
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
    b = 0.23
    line = [(math.exp(1.0 + b * q), q) for q in (30.0, 33.0, 36.0, 39.0, 42.0)]
    for method in ("pchip", "cubic"):
        bd = lambda a, t: bd_rate(a, t, method)
        expect(f"{method}: identical curves", bd(rp(anchor), rp(anchor)), 0.0)
        expect(f"{method}: 10% more rate at every quality",
               bd(rp(anchor), [(r * 1.1, p) for r, p in rp(anchor)]), 10.0)
        expect(f"{method}: 20% less rate at every quality",
               bd(rp(anchor), [(r * 0.8, p) for r, p in rp(anchor)]), -20.0)
        # log(rate) linear in quality with slope b (per dB); a curve 1 dB worse at every
        # rate needs exp(b) times the rate for equal quality, whatever the interval.
        worse = [(r, q - 1.0) for r, q in line]
        expect(f"{method}: 1 dB worse, log-linear", bd(line, worse), (math.exp(b) - 1) * 100)
        # Order of points does not matter; ranges that do not meet give no number.
        expect(f"{method}: unordered points",
               bd(rp(anchor)[::-1], [(r * 1.1, p) for r, p in rp(anchor)]), 10.0)
        far = [(r, p + 20) for r, p in rp(anchor)]
        ok = bd(rp(anchor), far) is None
        print(f"{'ok  ' if ok else 'FAIL'} {method}: disjoint quality ranges give n/a")
        if not ok:
            failures.append(f"{method}: disjoint")
    # An exact cubic is fitted exactly by the cubic method, also through more than four
    # points.
    cubic = lambda q: 0.5 + 0.3 * q - 0.004 * q * q + 0.00005 * q**3
    curve = [(math.exp(cubic(q)), q) for q in (28, 31, 34, 37, 40, 43)]
    shifted = [(math.exp(cubic(q) + 0.05), q) for q in (29.5, 32, 35.5, 38, 41.5)]
    expect("cubic: cubic with a constant log offset", bd_rate(curve, shifted, "cubic"),
           (math.exp(0.05) - 1) * 100)
    expect("pchip: cubic with a constant log offset", bd_rate(curve, shifted),
           (math.exp(0.05) - 1) * 100, 0.05)
    # Two anchor points at almost the same quality, the finer one a little cheaper (what a
    # static scene gives when its keyframe reaches quantizer 0 at two levels), on a
    # log-linear truth; the test curve is 5% dearer at every quality, sampled elsewhere.
    # The interpolation must stay near +5% (a single cubic through these swings far off).
    truth = lambda q: 1.0 + 0.8 * q
    static = [(math.exp(truth(q)), q) for q in (13.0, 15.8, 16.55)]
    static.append((math.exp(truth(16.55) + 0.007), 16.52))
    dearer = [(1.05 * math.exp(truth(q)), q) for q in (12.5, 14.0, 15.5, 16.6)]
    expect("pchip: near-duplicate qualities", bd_rate(static, dearer), 5.0, 0.5)
    # PCHIP passes through its points and stays between neighbours.
    pchip = Pchip([1, 2, 3, 4, 5], [0, 1, 1, 3, 2])
    expect("pchip: through a point", pchip(4), 3.0)
    inside = all(min(a, b) - 1e-12 <= pchip(x + f) <= max(a, b) + 1e-12
                 for x, (a, b) in enumerate([(0, 1), (1, 1), (1, 3), (3, 2)], 1)
                 for f in (0.1, 0.3, 0.5, 0.7, 0.9))
    print(f"{'ok  ' if inside else 'FAIL'} pchip: stays between neighbouring points")
    if not inside:
        failures.append("pchip overshoot")
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
    method = "pchip"
    if len(argv) > 1 and argv[1] == "--cubic":
        method = "cubic"
        argv = argv[:1] + argv[2:]
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    anchor, test = read_points(argv[1]), read_points(argv[2])
    try:
        report(anchor, test, method)
    except ValueError as error:
        print(f"bd-rate: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
