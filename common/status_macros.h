// Status helpers used across eqat: RETURN_IF_ERROR / ASSIGN_OR_RETURN keep the
// happy path flat. Header-only; thread-safe (no state).
#ifndef EQAT_COMMON_STATUS_MACROS_H_
#define EQAT_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define EQAT_CONCAT_INNER_(a, b) a##b
#define EQAT_CONCAT_(a, b) EQAT_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status eqat_status_ = (expr);              \
    if (!eqat_status_.ok()) return eqat_status_;       \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, StatusOrExpr());` declares/assigns x or returns.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  ASSIGN_OR_RETURN_IMPL_(EQAT_CONCAT_(eqat_statusor_, __LINE__), lhs, rexpr)
#define ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                           \
  if (!tmp.ok()) return tmp.status();           \
  lhs = std::move(tmp).value()

#endif  // EQAT_COMMON_STATUS_MACROS_H_
