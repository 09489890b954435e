// eqat's version, written into every output folder (quantization_config.meta
// as "eqat:<version>", eqat.json) and printed by `eqat version`.
// Bump it with every release; it names the code that produced a checkpoint.
#ifndef EQAT_COMMON_VERSION_H_
#define EQAT_COMMON_VERSION_H_

namespace eqat {

inline constexpr char kEqatVersion[] = "0.3.0";

}  // namespace eqat

#endif  // EQAT_COMMON_VERSION_H_
