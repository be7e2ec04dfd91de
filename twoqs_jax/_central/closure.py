"""Closed moment equations (mean field, cumulant expansions) generated from the master equation.

Moments of a central site (spin or cavity mode) and distinct satellites are labelled by
``key = (central, sats)``: ``central`` is ``"I", "z", "p", "m"`` (``1, s0z, s0+, s0-``) for the
central spin or ``(p, q)`` for the normal-ordered cavity monomial ``a^+^p a^q``; ``sats`` is
a sorted tuple over ``"m", "p", "z"`` (``sn-, sn+, snz`` on *distinct* satellites; by
permutation symmetry which satellites does not matter). The Heisenberg-picture generator
``L^+(O) = i[H, O] + sum_k r_k (L_k^+ O L_k - {L_k^+ L_k, O}/2)`` is applied to each moment:
terms inside the cluster (central site + the satellites of the key) exactly, plus the
``N - k`` identical couplings ``g (s0+ s- + s0- s+)`` to a satellite outside the cluster, which
add one site. Every coefficient is linear in the parameter vector
``(h_z, w_x, eps, g, g N, kappa, kappa_up, Gamma_down, Gamma_up)`` (``h_z = omega/2 + w_z`` for
the spin, ``omega`` for the cavity), so the equations are generated once per (order,
symmetry, model type) and evaluated for any parameters and any ``N`` (jit/vmap/grad).

Closure at order ``M`` (paper 002 Sec. III): a moment on more than ``M`` operators (sites for
spins; each ``a`` or ``a^+`` counts as one, paper 002 Ref. 58) is replaced by setting its
joint cumulant to zero, ``<X_1..X_n> = sum_{pi, |pi| >= 2} (|pi|-1)! (-1)^|pi| prod_B <B>``
(Eq. A11 for n = 4). ``u1=True`` drops every moment that is not invariant under the U(1)
phase rotation (``s+ -> e^{i theta} s+``, ``a^+ -> e^{i theta} a^+``), as in paper 002 Eqs.
10-11 and App. A; ``u1=False`` keeps them (App. C, and mean field, which needs them).
"""

import functools
import math

import numpy as np

PARAMS = ("h_z", "w_x", "eps", "g", "gN", "kappa", "kappa_up", "Gamma_down", "Gamma_up")
_P = {name: i for i, name in enumerate(PARAMS)}

_SZ = np.diag([1.0, -1.0]).astype(complex)
_SP = np.array([[0, 1], [0, 0]], dtype=complex)  # |up><down|, up = index 0
_SM = _SP.T.copy()
_SX = _SP + _SM
_ID = np.eye(2, dtype=complex)
_OPS = {"I": _ID, "z": _SZ, "p": _SP, "m": _SM}
_LABELS = ("I", "z", "p", "m")
# Dual basis: coefficient of label o in X is Tr(dual[o] X).
_DUAL = np.stack([_ID / 2, _SZ / 2, _SM, _SP])
_CHARGE = {"I": 0, "z": 0, "p": 1, "m": -1}


def _vec(**kw):
    v = np.zeros(len(PARAMS), dtype=complex)
    for k, x in kw.items():
        v[_P[k]] += x
    return v


def _kron(*ms):
    return functools.reduce(np.kron, ms)


def _site(op, i, n):
    return _kron(*[op if k == i else _ID for k in range(n)])


def _decompose_product(X, n):
    """``{labels: coeff}`` with ``X = sum coeff * kron(op(l_0), ..., op(l_{n-1}))``."""
    T = X.reshape((2,) * (2 * n))
    # T[i_0..i_{n-1}, j_0..j_{n-1}]; coefficient = sum_ij prod_s dual[o_s][j_s, i_s] T[i, j]
    letters = "abcdefghijklmnop"
    rows, cols, outs = letters[:n], letters[n : 2 * n], "qrstuvwxyzABCDEF"[:n]
    operands, subs = [T], [rows + cols]
    for s in range(n):
        operands.append(_DUAL)
        subs.append(outs[s] + cols[s] + rows[s])
    C = np.einsum(",".join(subs) + "->" + outs, *operands, optimize=True)
    out = {}
    for idx in zip(*np.nonzero(np.abs(C) > 1e-13)):
        out[tuple(_LABELS[i] for i in idx)] = C[idx]
    return out


# ----------------------------------------------------------------------------- spin central
def _spin_generator_terms(key):
    """``L^+`` of the spin-central moment ``key`` as ``[(param_vec, key), ...]`` (unclosed)."""
    c, sats = key
    k = len(sats)
    out = []

    def add(X, nsites, vec):
        for labels, coeff in _decompose_product(X, nsites).items():
            kk = (labels[0], tuple(sorted(l for l in labels[1:] if l != "I")))
            out.append((coeff * vec, kk))

    n = k + 1
    O = _kron(_OPS[c], *[_OPS[s] for s in sats])
    Z = lambda i: _site(_SZ, i, n)  # noqa: E731
    P = lambda i: _site(_SP, i, n)  # noqa: E731
    M = lambda i: _site(_SM, i, n)  # noqa: E731

    def comm(H):
        return 1j * (H @ O - O @ H)

    def diss(L):
        LdL = L.conj().T @ L
        return L.conj().T @ O @ L - 0.5 * (LdL @ O + O @ LdL)

    add(comm(Z(0)), n, _vec(h_z=1))
    add(comm(_site(_SX, 0, n)), n, _vec(w_x=1))
    add(diss(M(0)), n, _vec(kappa=1))
    add(diss(P(0)), n, _vec(kappa_up=1))
    for i in range(1, n):
        add(comm(Z(i) / 2), n, _vec(eps=1))
        add(comm(P(0) @ M(i) + M(0) @ P(i)), n, _vec(g=1))
        add(diss(M(i)), n, _vec(Gamma_down=1))
        add(diss(P(i)), n, _vec(Gamma_up=1))
    # (N - k) couplings to an outside satellite: one more site.
    n2 = n + 1
    O2 = np.kron(O, _ID)
    H2 = _site(_SP, 0, n2) @ _site(_SM, n, n2) + _site(_SM, 0, n2) @ _site(_SP, n, n2)
    add(1j * (H2 @ O2 - O2 @ H2), n2, _vec(gN=1, g=-k))
    return out


# ----------------------------------------------------------------------------- cavity central
def _cavity_generator_terms(key):
    """``L^+`` of the cavity moment ``key = ((p, q), sats)`` (normal ordered, unclosed)."""
    (p, q), sats = key
    k = len(sats)
    n = k  # satellite sites in the cluster
    S = _kron(*[_OPS[s] for s in sats]) if k else np.ones((1, 1), dtype=complex)
    out = []

    def add(pq, X, nsites, vec):
        if pq[0] < 0 or pq[1] < 0:
            return
        if nsites == 0:
            if abs(X[0, 0]) > 1e-13:
                out.append((X[0, 0] * vec, (pq, ())))
            return
        for labels, coeff in _decompose_product(X, nsites).items():
            out.append((coeff * vec, (pq, tuple(sorted(l for l in labels if l != "I")))))

    # cavity: i[omega a^+ a, A] = i omega (p - q) A
    add((p, q), S, n, _vec(h_z=1j * (p - q)))
    # drive w_x (a + a^+): i w_x (p a^+^{p-1} a^q - q a^+^p a^{q-1})
    add((p - 1, q), S, n, _vec(w_x=1j * p))
    add((p, q - 1), S, n, _vec(w_x=-1j * q))
    add((p, q), S, n, _vec(kappa=-(p + q) / 2, kappa_up=(p + q) / 2))
    add((p - 1, q - 1), S, n, _vec(kappa_up=p * q))
    Zs = lambda i: _site(_SZ, i, n)  # noqa: E731
    Ps = lambda i: _site(_SP, i, n)  # noqa: E731
    Ms = lambda i: _site(_SM, i, n)  # noqa: E731
    for i in range(n):
        add((p, q), 1j * (Zs(i) @ S - S @ Zs(i)) / 2, n, _vec(eps=1))
        for L, name in ((Ms(i), "Gamma_down"), (Ps(i), "Gamma_up")):
            LdL = L.conj().T @ L
            add((p, q), L.conj().T @ S @ L - 0.5 * (LdL @ S + S @ LdL), n, _vec(**{name: 1}))
        # g a^+ s-: i a^+^{p+1} a^q [s-, S] - i q a^+^p a^{q-1} S s-
        sm, spl = Ms(i), Ps(i)
        add((p + 1, q), 1j * (sm @ S - S @ sm), n, _vec(g=1))
        add((p, q - 1), -1j * q * (S @ sm), n, _vec(g=1))
        # g a s+: i a^+^p a^{q+1} [s+, S] + i p a^+^{p-1} a^q s+ S
        add((p, q + 1), 1j * (spl @ S - S @ spl), n, _vec(g=1))
        add((p - 1, q), 1j * p * (spl @ S), n, _vec(g=1))
    # outside satellite (N - k copies): commutator parts vanish, the ordering terms stay.
    S2 = np.kron(S, _ID)
    sm2, sp2 = _site(_SM, n, n + 1), _site(_SP, n, n + 1)
    add((p, q - 1), -1j * q * (S2 @ sm2), n + 1, _vec(gN=1, g=-k))
    add((p - 1, q), 1j * p * (sp2 @ S2), n + 1, _vec(gN=1, g=-k))
    return out


# ----------------------------------------------------------------------------- closure
def _elements(key):
    """Split a key into its elementary operators (each a '(kind, label)')."""
    c, sats = key
    if isinstance(c, tuple):
        el = [("a", "+")] * c[0] + [("a", "-")] * c[1]
    else:
        el = [] if c == "I" else [("c", c)]
    return el + [("s", s) for s in sats]


def _key_of(elements, cavity):
    if cavity:
        p = sum(1 for e in elements if e == ("a", "+"))
        q = sum(1 for e in elements if e == ("a", "-"))
        c = (p, q)
    else:
        cs = [e[1] for e in elements if e[0] == "c"]
        c = cs[0] if cs else "I"
    return (c, tuple(sorted(e[1] for e in elements if e[0] == "s")))


def order(key):
    """Number of elementary operators in a moment."""
    return len(_elements(key))


def charge(key):
    """U(1) charge: +1 per ``s+``/``a^+``, -1 per ``s-``/``a``."""
    c, sats = key
    q = (c[0] - c[1]) if isinstance(c, tuple) else _CHARGE[c]
    return q + sum(_CHARGE[s] for s in sats)


def conj_key(key):
    """Key of the Hermitian conjugate moment (``<X>^* = <X^+>``)."""
    c, sats = key
    sw = {"p": "m", "m": "p", "z": "z", "I": "I"}
    c2 = (c[1], c[0]) if isinstance(c, tuple) else sw[c]
    return (c2, tuple(sorted(sw[x] for x in sats)))


def _set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        for i in range(len(part)):
            yield part[:i] + [[first] + part[i]] + part[i + 1 :]
        yield [[first]] + part


def _is_unit(key):
    c, sats = key
    return (c == "I" or c == (0, 0)) and not sats


@functools.lru_cache(maxsize=None)
def factorise(key, M, u1, cavity):
    """``key`` as ``[(coeff, (key_1, key_2, ...)), ...]`` with every factor of order <= M."""
    if _is_unit(key):
        return [(1.0, ())]
    if u1 and charge(key) != 0:
        return []
    if order(key) <= M:
        return [(1.0, (key,))]
    el = _elements(key)
    terms = {}
    for part in _set_partitions(list(range(len(el)))):
        if len(part) < 2:
            continue
        coeff = float(math.factorial(len(part) - 1) * (-1) ** len(part))
        blocks = [_key_of([el[i] for i in b], cavity) for b in part]
        if u1 and any(charge(b) != 0 for b in blocks):
            continue
        # blocks may themselves exceed M only if len(el) > M + 1 (not reached by L^+).
        expanded = [(coeff, ())]
        for b in blocks:
            sub = factorise(b, M, u1, cavity)
            expanded = [(c1 * c2, f1 + f2) for c1, f1 in expanded for c2, f2 in sub]
        for c, f in expanded:
            f = tuple(sorted(f, key=repr))
            terms[f] = terms.get(f, 0.0) + c
    return [(c, f) for f, c in terms.items() if c != 0]


class ClosedEquations:
    """Closed equations ``d y_i / dt = sum_t [coef_t . params] prod_f y[idx_t,f]`` (numpy tables).

    Attributes:
        keys: the moments (``keys[0]`` is the unit moment, fixed to 1).
        index: key -> position.
        eq, coef, idx: term tables ``(T,)``, ``(T, len(PARAMS))`` complex, ``(T, F)`` int.
        order, u1, cavity: the closure settings.
    """

    def __init__(self, order_M: int, u1: bool, cavity: bool, seeds=None):
        self.order, self.u1, self.cavity = order_M, u1, cavity
        gen = _cavity_generator_terms if cavity else _spin_generator_terms
        unit = ((0, 0), ()) if cavity else ("I", ())
        if seeds is None:
            seeds = (
                [((1, 1), ()), ((0, 1), ()), ((1, 0), ())]
                if cavity
                else [("z", ()), ("p", ()), ("m", ())]
            )
            seeds += [
                ("I" if not cavity else (0, 0), ("z",)),
                ((0, 0) if cavity else "I", ("p",)),
                ((0, 0) if cavity else "I", ("m",)),
            ]
        keys = [unit]
        index = {unit: 0}
        queue = []
        for s in seeds:
            for _, fac in factorise(s, order_M, u1, cavity):
                for f in fac:
                    if f not in index:
                        index[f] = len(keys)
                        keys.append(f)
                        queue.append(f)
        eqs = {}
        while queue:
            key = queue.pop(0)
            acc = {}
            for vec, kk in gen(key):
                for c, fac in factorise(kk, order_M, u1, cavity):
                    for f in fac:
                        if f not in index:
                            index[f] = len(keys)
                            keys.append(f)
                            queue.append(f)
                    acc[fac] = acc.get(fac, 0) + c * vec
            eqs[index[key]] = {f: v for f, v in acc.items() if np.abs(v).max() > 1e-13}
        self.keys, self.index = keys, index
        F = max([len(f) for e in eqs.values() for f in e] + [1])
        eq, coef, idx = [], [], []
        for i, terms in eqs.items():
            for f, v in terms.items():
                eq.append(i)
                coef.append(v)
                idx.append([index[x] for x in f] + [0] * (F - len(f)))
        self.eq = np.array(eq, dtype=np.int32)
        self.coef = np.array(coef, dtype=complex).reshape(-1, len(PARAMS))
        self.idx = np.array(idx, dtype=np.int32).reshape(-1, F)

    def __len__(self):
        return len(self.keys)

    def evaluate(self, key, y):
        """Value of any moment (closed with the same rule) from the state ``y`` (numpy).

        NaN when the moment is not determined by this closure (not among its variables).
        """
        total = 0.0
        for _, fac in factorise(key, self.order, self.u1, self.cavity):
            if any(f not in self.index for f in fac):
                return np.full(np.shape(y)[:-1], np.nan)
        for c, fac in factorise(key, self.order, self.u1, self.cavity):
            if fac:
                total = total + c * np.prod([y[..., self.index[f]] for f in fac], axis=0)
            else:
                total = total + c
        return total


@functools.lru_cache(maxsize=None)
def closed_equations(order_M: int, u1: bool, cavity: bool = False) -> ClosedEquations:
    """Cached :class:`ClosedEquations` for a closure order, symmetry and central type."""
    if order_M < 1:
        raise ValueError(f"`order` must be >= 1, got {order_M}.")
    return ClosedEquations(order_M, u1, cavity)
