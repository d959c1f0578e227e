// What a writer killed outright (SIGKILL) leaves beside its output, and how
// the next process to look at that output gets rid of it. StagingDirectory
// and write_file_atomically call it before they write; a command that uses
// an existing output instead of writing it (an index build finding the index
// there) calls it before it looks, or a killed rebuild's partial copy would
// stay beside the index until the next rebuild.
#pragma once

#include <filesystem>

namespace ralm {

// Removes TARGET.partial-PID and TARGET.tmp-PID whose process no longer
// runs; an TARGET.old-PID of such a process goes too, unless TARGET itself
// is missing (the writer was killed between its two renames): then the old
// one becomes TARGET again.
void recover_writer_leftovers(const std::filesystem::path& target);

}  // namespace ralm
