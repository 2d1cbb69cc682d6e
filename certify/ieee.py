"""Arithmetic whose every rounding is fixed by IEEE 754 alone, so results are bit-identical on any CPU.

Only correctly rounded elementwise operations are used (+, -, *, /, sqrt, rint, conversions), each
a separate numpy call, so neither SIMD width nor FMA contraction can change a bit; sums run in one
fixed order (`tree_sum`); matrix products go to the BLAS only in a form it computes exactly
(`matmul`), so neither its kernels nor its thread count matter; exp and log are polynomials in
float64 (no libm is consulted); random numbers come from splitmix64 on integers.
"""
from __future__ import annotations

import math

import numpy as np

F32 = np.float32
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: n * _LN2_HI is exact for |n| < 2**11
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_EXP_MIN = -120.0  # exp(-120) ~ 8e-53: below float32's smallest subnormal, so the clamp changes nothing
_GAMMA = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1


def tree_sum(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """Sum over `axis` in one fixed order: halves added pairwise (first half + second half, an odd
    last element carried to the next round) until one is left."""
    x = np.moveaxis(x, axis, 0)
    while x.shape[0] > 1:
        h = x.shape[0] // 2
        pairs = x[:h] + x[h:2 * h]
        x = np.concatenate([pairs, x[2 * h:]]) if x.shape[0] % 2 else pairs
    return x[0]


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float32 a [m, n] @ b [n, p], the same bits whatever BLAS computes it, in whatever order.

    Each operand is split exactly into float64 pieces that are integers of at most `bits` bits times
    a power of two shared by a row of a (a column of b), with n * 2**(2 bits) <= 2**53: then every
    product and partial sum of a piece-by-piece matmul is an exactly representable float64, so the
    BLAS returns the exact result, whatever its blocking, FMA use or threads. The three leading
    piece products are added in a fixed order and rounded to float32; the dropped terms are below
    2**(-2 bits) of the largest |a| |b| of their row and column, far below float32's rounding."""
    bits = (53 - math.ceil(math.log2(max(a.shape[1], 2)))) // 2
    a_hi, a_lo = _split(a.astype(np.float64), 1, bits)
    b_hi, b_lo = _split(b.astype(np.float64), 0, bits)
    return ((_mm(a_hi, b_hi) + _mm(a_hi, b_lo)) + _mm(a_lo, b_hi)).astype(F32)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact float64 products: torch's BLAS (MKL on x86-64) honours torch.set_num_threads."""
    import torch
    return (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()


def _split(x: np.ndarray, axis: int, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """x = hi + lo + rest, hi and lo integers of <= bits bits times 2**(e - bits), 2**(e - 2 bits),
    where 2**e > max |x| along `axis`; every operation is exact (powers of two, rint, Sterbenz)."""
    _, e = np.frexp(np.max(np.abs(x), axis=axis, keepdims=True))
    q_hi, q_lo = np.ldexp(1.0, e - bits), np.ldexp(1.0, e - 2 * bits)
    hi = np.rint(x * (1.0 / q_hi)) * q_hi
    return hi, np.rint((x - hi) * (1.0 / q_lo)) * q_lo


def exp64(x: np.ndarray) -> np.ndarray:
    """exp for float64 x <= 0: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-13 Taylor
    polynomial by Horner (relative error ~1e-16), times 2**n built from bits (exact)."""
    x = np.maximum(x, _EXP_MIN)
    n = np.rint(x * _INV_LN2)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = np.full_like(r, 1.0 / math.factorial(13))
    for i in range(12, -1, -1):
        p = p * r + 1.0 / math.factorial(i)
    scale = ((n.astype(np.int64) + 1023) << 52).view(np.float64)
    return p * scale


def log64(x: np.ndarray) -> np.ndarray:
    """log for float64 x > 0 (normal): x = m 2**e with m in [sqrt(1/2), sqrt(2)), then
    log m = 2 atanh(f), f = (m - 1)/(m + 1), |f| < 0.172, by its series to f**25 (error ~1e-20)."""
    m, e = np.frexp(x)  # exact: m in [1/2, 1)
    small = m < 0.7071067811865476
    m = np.where(small, m * 2.0, m)
    e = (e - small.astype(e.dtype)).astype(np.float64)
    f = (m - 1.0) / (m + 1.0)
    f2 = f * f
    s = np.full_like(f, 1.0 / 25)
    for k in range(23, 0, -2):
        s = s * f2 + 1.0 / k
    return e * _LN2_HI + (e * _LN2_LO + 2.0 * f * s)


def softmax32(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis of float32 x, in float32: exp rounded once from float64."""
    e = exp64(np.moveaxis(x - x.max(axis=-1, keepdims=True), -1, 0).astype(np.float64)).astype(F32)
    return np.moveaxis(e / tree_sum(e), 0, -1)


def keep_heap() -> None:
    """Speed only: keep large temporaries on glibc's heap (mmap'd blocks page-fault on every step)."""
    import ctypes
    import ctypes.util
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: glibc's maximum, 32 MiB
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def splitmix64(seed: int, stream: int, start: int, n: int) -> np.ndarray:
    """Outputs start..start+n-1 of splitmix64 keyed by (seed, stream): uint64, wrapping arithmetic."""
    key = _mix(np.array([(seed * _GAMMA + stream) & _MASK64], dtype=np.uint64))[0]
    counters = np.arange(start + 1, start + n + 1, dtype=np.uint64)
    return _mix(key + counters * np.uint64(_GAMMA))


def uniform_ints(seed: int, stream: int, start: int, n: int, high: int) -> np.ndarray:
    """n integers in [0, high) by multiply-shift of the top 32 bits (bias < high / 2**32)."""
    top = splitmix64(seed, stream, start, n) >> np.uint64(32)
    return ((top * np.uint64(high)) >> np.uint64(32)).astype(np.int64)


def normals(seed: int, stream: int, n: int) -> np.ndarray:
    """n standard normal float64 values, Marsaglia's polar method on splitmix64 pairs, in order."""
    out: list[np.ndarray] = []
    have, start = 0, 0
    while have < n:
        chunk = 2 * max(n - have, 8)
        bits = splitmix64(seed, stream, start, 2 * chunk) >> np.uint64(11)
        start += 2 * chunk
        uv = bits.astype(np.float64) * 2.0 ** -52 - 1.0  # exact: multiples of 2**-52 in [-1, 1)
        u, v = uv[0::2], uv[1::2]
        s = u * u + v * v
        ok = (s > 0) & (s < 1)
        u, v, s = u[ok], v[ok], s[ok]
        factor = np.sqrt(-2.0 * log64(s) / s)
        pairs = np.stack([u * factor, v * factor], axis=1).reshape(-1)
        out.append(pairs)
        have += pairs.size
    return np.concatenate(out)[:n]


def _mix(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
