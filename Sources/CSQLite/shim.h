#ifndef KOTOSYNC_CSQLITE_SHIM_H
#define KOTOSYNC_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift
/// cannot import; this gives Swift a typed value to pass to sqlite3_bind_*.
static inline sqlite3_destructor_type kotosync_sqlite_transient(void) {
    return SQLITE_TRANSIENT;
}
#endif
