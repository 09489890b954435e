// Strict command-line parsing over Abseil's flag registry, per subcommand.
// Flags are declared with ABSL_FLAG in the binary's main.cc (the declarative
// table); each subcommand lists the flag names it accepts. Unlike
// absl::ParseCommandLine, errors are returned (the CLI exits 2 with the
// message) instead of terminating the process.
// Accepted forms: --name=value, --name value, --bool, --nobool, --bool=false;
// '-' and '_' are the same in names (--max-windows is flag max_windows);
// a std::vector<std::string> flag given twice accumulates (comma-joined).
// Thread-safety: mutates global flag values; call from main() only.
#ifndef EQAT_COMMON_FLAG_PARSER_H_
#define EQAT_COMMON_FLAG_PARSER_H_

#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace eqat {

struct ParsedArgs {
  std::vector<std::string> positional;  // non-flag arguments, in order
  std::set<std::string> given;          // flags set on the command line
};

// Parses args (without the program and subcommand names). InvalidArgument
// naming the flag for: unknown flag, flag not accepted by this subcommand,
// missing value, or a value that does not parse.
absl::StatusOr<ParsedArgs> ParseSubcommandFlags(const std::vector<std::string>& args,
                                                const std::set<std::string>& allowed);

// "  --name  help (default: X)" lines for the given flags, sorted.
std::string FlagsHelp(const std::set<std::string>& names);

}  // namespace eqat

#endif  // EQAT_COMMON_FLAG_PARSER_H_
