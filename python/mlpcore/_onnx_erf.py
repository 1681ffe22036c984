"""erf in float64 from the ONNX operators onnxruntime runs in double precision.

onnxruntime (checked with 1.32) has no float64 kernel for Erf, nor for Gelu, whose function
body calls Erf. mlpcore.onnx therefore writes erf for float64 models as this small graph of
Abs, Min, Max, Mul, Sub, Add, Exp, Neg, Less, Where and Sign, accurate to about 1 ulp
(max |error| 1.1e-16 against math.erf on a 400001-point grid over [-8, 8]):

    a = |x|
    a < 1:   erf(a) = a * S(a^2),            S(u) = erf(sqrt u) / sqrt u on u in [0, 1]
    a >= 1:  erf(a) = 1 - exp(-a^2) * L(a),  L(a) = erfc(a) * exp(a^2) on a in [1, 6]
             (a is clamped to 6: erfc(6) = 2e-17 is below half an ulp of 1)
    erf(x) = sign(x) * erf(a)

S and L are Chebyshev interpolants (degree 12 and 28), evaluated by Clenshaw's recurrence.
Their coefficients were computed by `chebyshev_coefficients` below with mpmath at 40 digits;
tests/test_onnx_export.py recomputes them when mpmath is installed.
"""

import math

SMALL_INTERVAL, LARGE_INTERVAL = (0.0, 1.0), (1.0, 6.0)
SMALL = (
    0.9754769393826541,
    -0.14226120510371365,
    0.010035582187599796,
    -0.0005768764699767485,
    2.741993125219606e-05,
    -1.1043175507344507e-06,
    3.8488755420345036e-08,
    -1.1808582533875466e-09,
    3.2334215826050907e-11,
    -7.991015947004483e-13,
    1.799072511348477e-14,
    -3.718635162421382e-16,
    7.101507363020076e-18,
)
LARGE = (
    0.20196598791223083,
    -0.147884835533987,
    0.05188222158351389,
    -0.017525709964867527,
    0.005721802417478219,
    -0.0018109803028142997,
    0.0005570714353927344,
    -0.00016689473052528832,
    4.878565911493746e-05,
    -1.3935932859822488e-05,
    3.895514595190115e-06,
    -1.0668392337070025e-06,
    2.865502572057316e-07,
    -7.555861081756622e-08,
    1.957586342968354e-08,
    -4.987110132992565e-09,
    1.2501871239431183e-09,
    -3.0858852312872416e-10,
    7.504484747602063e-11,
    -1.7990193064431427e-11,
    4.253478301217652e-12,
    -9.923156075211234e-13,
    2.2852946881888867e-13,
    -5.1975450866167244e-14,
    1.1678400541510938e-14,
    -2.5932901330272067e-15,
    5.692635243339303e-16,
    -1.2335300698913424e-16,
    2.5358417099784882e-17,
)


def chebyshev_coefficients(degree, which):
    """Recomputes SMALL (which="small") or LARGE ("large") with mpmath: interpolation at the
    degree + 1 Chebyshev points of the first kind of the interval."""
    import mpmath

    mpmath.mp.dps = 40
    if which == "small":
        (lo, hi), f = (
            SMALL_INTERVAL,
            lambda u: (
                mpmath.erf(mpmath.sqrt(u)) / mpmath.sqrt(u) if u > 0 else 2 / mpmath.sqrt(mpmath.pi)
            ),
        )
    else:
        (lo, hi), f = LARGE_INTERVAL, lambda a: mpmath.erfc(a) * mpmath.exp(a * a)
    n = degree + 1
    theta = [mpmath.pi * (k + mpmath.mpf(1) / 2) / n for k in range(n)]
    values = [f((hi - lo) / 2 * mpmath.cos(th) + (hi + lo) / 2) for th in theta]
    return tuple(
        float(
            2
            * sum(v * mpmath.cos(j * th) for v, th in zip(values, theta))
            / n
            / (2 if j == 0 else 1)
        )
        for j in range(n)
    )


def _clenshaw(g, coeffs, t):
    """sum_j coeffs[j] T_j(t): b_k = 2 t b_{k+1} - b_{k+2} + c_k, result t b_1 - b_2 + c_0."""
    two_t = g.node("Mul", [t, g.const(2.0)])
    b1 = b2 = None  # None: still the zero of the recurrence's start
    for c in coeffs[:0:-1]:
        acc = g.node("Mul", [two_t, b1]) if b1 is not None else None
        if b2 is not None:
            acc = g.node("Sub", [acc, b2])
        acc = g.node("Add", [acc, g.const(c)]) if acc is not None else g.const(c)
        b1, b2 = acc, b1
    out = g.node("Sub", [g.node("Mul", [t, b1]), b2])
    return g.node("Add", [out, g.const(coeffs[0])])


def emit_erf(g, x):
    """erf(x) elementwise, as nodes added to the graph builder g; returns the output name."""
    a = g.node("Abs", [x])
    # a < 1: a * S(u), u = a^2 mapped from [0, 1] to t in [-1, 1]
    small = g.node("Min", [a, g.const(1.0)])
    u = g.node("Mul", [small, small])
    t_small = g.node("Sub", [g.node("Mul", [u, g.const(2.0)]), g.const(1.0)])
    r_small = g.node("Mul", [small, _clenshaw(g, SMALL, t_small)])
    # a >= 1: 1 - exp(-a^2) L(a), a clamped to [1, 6] and mapped to t in [-1, 1]
    lo, hi = LARGE_INTERVAL
    large = g.node("Max", [g.node("Min", [a, g.const(hi)]), g.const(lo)])
    t_large = g.node(
        "Sub", [g.node("Mul", [large, g.const(2.0 / (hi - lo))]), g.const((hi + lo) / (hi - lo))]
    )
    decay = g.node("Exp", [g.node("Neg", [g.node("Mul", [large, large])])])
    r_large = g.node("Sub", [g.const(1.0), g.node("Mul", [decay, _clenshaw(g, LARGE, t_large)])])
    magnitude = g.node("Where", [g.node("Less", [a, g.const(1.0)]), r_small, r_large])
    return g.node("Mul", [g.node("Sign", [x]), magnitude])


SQRT1_2 = math.sqrt(0.5)
