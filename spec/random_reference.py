"""An independent Python reading of oml's random streams (see
engine/src/core/philox.h), used to check the values pinned in
spec/random_spec.lua: python3 spec/random_reference.py"""
import math
import struct

M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox(ctr, key):
    c, (k0, k1) = list(ctr), key
    for _ in range(10):
        p0, p1 = M0 * c[0], M1 * c[2]
        c = [((p1 >> 32) ^ c[1] ^ k0) & MASK, p1 & MASK, ((p0 >> 32) ^ c[3] ^ k1) & MASK, p0 & MASK]
        k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
    return c


def block(seed, b):
    return philox([b & MASK, b >> 32, 0, 0], [seed & MASK, seed >> 32])


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def u53(hi, lo):
    return (((hi << 32) | lo) >> 11) * 2.0**-53


def box_muller(u1, u2):
    r, theta = math.sqrt(-2 * math.log(u1)), 2 * math.pi * u2
    return r * math.cos(theta), r * math.sin(theta)


def below(w, n):  # floor(X * n / 2^128), X the block as a 128-bit fraction
    x = (w[0] << 96) | (w[1] << 64) | (w[2] << 32) | w[3]
    return (x * n) >> 128


assert philox([0] * 4, [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]  # Random123 KAT
for seed in (0, 42):
    blocks = [block(seed, b) for b in range(6)]
    words = [x for w in blocks for x in w]
    print("seed", seed)
    print("rand32", [f32((x >> 8) * 2.0**-24) for x in words[:6]])
    print("rand64", [u53(w[k], w[k + 1]) for w in blocks[:2] for k in (0, 2)][:3])
    print("randn32", [f32(z) for w in blocks[:2] for k in (0, 2)
                      for z in box_muller((w[k] + 1.0) * 2.0**-32, w[k + 1] * 2.0**-32)][:6])
    print("randn64", [z for w in blocks[:3] for z in box_muller(1.0 - u53(w[0], w[1]), u53(w[2], w[3]))])
    print("randint10", [below(w, 10) for w in blocks])
    print("randint_wide", [-5 + below(w, 2**40) for w in blocks[:4]])
