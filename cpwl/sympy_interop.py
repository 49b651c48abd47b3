"""sympy interop: CPWL <-> ``Piecewise`` (interop only; never on a hot path)."""

from __future__ import annotations

import sympy

from cpwl.errors import CPWLError, SerializationError
from cpwl.function import CPWL
from cpwl.interval import Interval
from cpwl.lattice import maximum, minimum

__all__ = ["to_sympy", "from_sympy"]


def _rat(q) -> sympy.Rational:
    return sympy.Rational(int(q.numerator), int(q.denominator))


def to_sympy(f: CPWL, x: sympy.Symbol) -> sympy.Piecewise:
    """``Piecewise((s0*x + c0, x <= t1), ..., (sk*x + ck, True))``; on a compact or half-line
    domain the finite ends become conditions, so the expression is ``nan`` outside."""
    branches = [(_rat(s) * x + _rat(c), x <= _rat(t)) for s, c, t in zip(f._s, f._c, f._bps)]
    last = sympy.true if f.domain._hi is None else x <= _rat(f.domain._hi)
    branches.append((_rat(f._s[-1]) * x + _rat(f._c[-1]), last))
    if f.domain._lo is not None:
        branches.insert(0, (sympy.nan, x < _rat(f.domain._lo)))
    return sympy.Piecewise(*branches)


def _const(expr) -> object:
    try:
        return sympy.Rational(expr)
    except (TypeError, ValueError) as err:
        raise SerializationError(f"{expr} is not a rational constant") from err


def _convert(expr, x, domain: Interval) -> CPWL:
    if expr == x:
        return CPWL.identity(domain)
    if not expr.has(x):
        if not (expr.is_number and expr.is_real and expr.is_finite):
            raise SerializationError(f"{expr} is not a finite real constant")
        return CPWL.constant(_fraction(_const(expr)), domain)
    if isinstance(expr, sympy.Add):
        total = _convert(expr.args[0], x, domain)
        for arg in expr.args[1:]:
            total = total + _convert(arg, x, domain)
        return total
    if isinstance(expr, sympy.Mul):
        consts = [a for a in expr.args if not a.has(x)]
        others = [a for a in expr.args if a.has(x)]
        if len(others) != 1:
            raise SerializationError(f"{expr} is not linear in {x}")
        return _fraction(_const(sympy.Mul(*consts))) * _convert(others[0], x, domain)
    if isinstance(expr, sympy.Abs):
        return abs(_convert(expr.args[0], x, domain))
    if isinstance(expr, (sympy.Max, sympy.Min)):
        combine = maximum if isinstance(expr, sympy.Max) else minimum
        result = _convert(expr.args[0], x, domain)
        for arg in expr.args[1:]:
            result = combine(result, _convert(arg, x, domain))
        return result
    if isinstance(expr, sympy.Piecewise):
        return _piecewise(expr, x, domain)
    raise SerializationError(f"{type(expr).__name__} ({expr}) is not piecewise linear in {x}")


def _fraction(r: sympy.Rational):
    from fractions import Fraction

    return Fraction(int(r.p), int(r.q))


def _thresholds(cond, x) -> set:
    found = set()
    for rel in cond.atoms(sympy.core.relational.Relational):
        lhs_minus_rhs = sympy.expand(rel.lhs - rel.rhs)
        slope = lhs_minus_rhs.coeff(x)
        if not (slope.is_number and (lhs_minus_rhs - slope * x).is_number) or slope == 0:
            raise SerializationError(f"condition {rel} is not a comparison of {x} with a constant")
        found.add(_fraction(_const(-(lhs_minus_rhs - slope * x) / slope)))
    return found


def _piecewise(expr, x, domain: Interval) -> CPWL:
    cuts = set()
    for _, cond in expr.args:
        cuts |= _thresholds(cond, x)
    inner = sorted(t for t in cuts if domain.contains(t) and t not in (domain.lo, domain.hi))
    ends = [domain.lo, *inner, domain.hi]
    parts = []
    for left, right in zip(ends[:-1], ends[1:]):
        sub = Interval(left, right)
        mid = (
            (left + right) / 2
            if left is not None and right is not None
            else ((left + 1) if left is not None else (right - 1 if right is not None else 0))
        )
        branch = next(
            (e for e, c in expr.args if bool(c.subs(x, sympy.Rational(mid.numerator, mid.denominator)))), None
        )
        if branch is None:
            raise SerializationError(f"the Piecewise leaves ({left}, {right}) undefined; add a True branch")
        parts.append(_convert(branch, x, sub))
    return _stitch(parts, domain)


def _stitch(parts: list, domain: Interval) -> CPWL:
    bps, s, c = [], [], []
    for k, part in enumerate(parts):
        if k:
            t = part.domain._lo
            if parts[k - 1]._eval(t) != part._eval(t):
                raise SerializationError(f"the expression jumps at x = {t}; a CPWL must be continuous")
            bps.append(t)
        bps.extend(part._bps)
        s.extend(part._s)
        c.extend(part._c)
    return CPWL._trusted(bps, s, c, domain).canonical()


def from_sympy(expr, x, domain=None) -> CPWL:
    """Read a sympy expression that is piecewise linear in ``x`` on ``domain``; anything else
    (non-linear terms, complex or symbolic constants, malformed conditions) raises
    :class:`cpwl.SerializationError`."""
    try:
        return _convert(sympy.sympify(expr), x, Interval.coerce(domain))
    except SerializationError:
        raise
    except CPWLError as err:
        raise SerializationError(str(err)) from err
    except (TypeError, ValueError, AttributeError, sympy.SympifyError) as err:  # sympy refuses e.g. comparisons with I
        raise SerializationError(f"not a real piecewise-linear expression in {x}: {err}") from err
