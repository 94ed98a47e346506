/* collector/classify.h: what a goroutine is blocked on and where, from its frames.
 *
 * Location attribution: the first frame (from the leaf) outside the Go runtime and the standard
 * library's blocking internals (sync.(*WaitGroup).Wait, sync.(*Mutex).Lock, internal/sync.*,
 * sync.runtime_*, internal/poll.*, time.Sleep, runtime.*), so a wg.Wait() is attributed to its
 * caller's line. Op inference (proto and debug=1, which carry no wait reason): from the runtime
 * frames at the leaf, named with Go's wait-reason strings; "unknown" when the frames do not show
 * it. Pure functions over borrowed bytes. */
#ifndef CLASSIFY_H
#define CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A frame borrowed from the parser's input (strings not NUL-terminated). */
struct raw_frame {
	const char *fn;
	const char *file;
	uint32_t fnlen;
	uint32_t filelen;
	uint32_t line;
};

/* True when 'fn' is a runtime or blocking-internal frame that attribution skips. */
bool classify_internal(const char *fn, size_t len);

/* Index of the attributed frame of frames[0..n) (leaf first): the first non-internal frame; the
 * outermost frame when all are internal; 0 when n == 0. '*found' tells whether a non-internal frame
 * was found. */
size_t classify_location(const struct raw_frame *frames, size_t n, bool *found);

/* The op shown by the leaf frames (static string): "chan send", "select", "sync.Mutex.Lock", "IO
 * wait", "sleep", "running", ... or "unknown". 'frames' must reach at least the first non-internal
 * frame. */
const char *classify_infer_op(const struct raw_frame *frames, size_t n);

/* Refine Go 1.19's "semacquire" from the sync frames: "sync.WaitGroup.Wait", "sync.Mutex.Lock",
 * "sync.RWMutex.RLock", "sync.RWMutex.Lock"; "semacquire" when the stack does not tell (static
 * string). */
const char *classify_refine_semacquire(const struct raw_frame *frames, size_t n);

/* Strip trailing " (word)" markers from a debug=2 status ("chan send (leaked)", "select (durable)",
 * "chan receive (scan)") unless the whole status is a wait reason that contains them ("select (no
 * cases)", "force gc (idle)"). Returns the kept length; '*leaked' is set when a "(leaked)" marker
 * was stripped. */
size_t classify_strip_markers(const char *status, size_t len, bool *leaked);

#endif
