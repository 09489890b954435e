// The CLI's job flags and the JobSpec fields they set: the one table that
// maps between them (`eqat quantize` and `eqat submit` share it), used both
// to build a spec from flags and to name fields in errors (job_spec.h).
//
// Only flags given on the command line set a field; the others stay unset
// so that ValidateJobSpec applies the one default. Values arrive as text,
// as Abseil's flag registry prints them ("true", "0.0001", "pipelined").
// Thread-safety: pure functions over a constant table.
#ifndef EQAT_COMMON_JOB_JOB_FLAGS_H_
#define EQAT_COMMON_JOB_JOB_FLAGS_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "eqat/v1/quantization_service.pb.h"

namespace eqat {

struct JobFlag {
  std::string flag;   // flag name as declared, with '_' ("eval_seqlen")
  std::string field;  // JobSpec field ("eval_seqlen", "group_size")
  bool inverted = false;  // bool flag that sets the negation (--e2e -> skip_e2e)
  bool path = false;      // a file or folder: made absolute
};

// Every job flag, in the order `--help` lists them.
const std::vector<JobFlag>& JobFlagTable();

// The flag that sets JobSpec field `field`; nullptr when none does.
const JobFlag* FlagForField(const std::string& field);

// Builds a JobSpec from {flag name -> text value} of the flags the user
// gave (names as in JobFlagTable; flags not in the table are ignored).
// Paths become absolute. InvalidArgument naming the flag ("--schedule: ...")
// for text the field cannot hold.
absl::StatusOr<v1::JobSpec> JobSpecFromFlagValues(const std::map<std::string, std::string>& given);

}  // namespace eqat

#endif  // EQAT_COMMON_JOB_JOB_FLAGS_H_
