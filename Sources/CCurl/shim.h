#ifndef KOTOSYNC_CCURL_SHIM_H
#define KOTOSYNC_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot
   call; these typed wrappers give each argument type its own entry point. */
static inline CURLcode kotosync_curl_setopt_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode kotosync_curl_setopt_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode kotosync_curl_setopt_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode kotosync_curl_setopt_slist(CURL *curl, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode kotosync_curl_setopt_off_t(CURL *curl, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(curl, option, value);
}
typedef size_t (*kotosync_curl_write_callback)(char *data, size_t size, size_t count, void *userdata);
static inline CURLcode kotosync_curl_setopt_write_function(CURL *curl, CURLoption option, kotosync_curl_write_callback value) {
    return curl_easy_setopt(curl, option, value);
}
static inline CURLcode kotosync_curl_getinfo_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}
/* CURL_GLOBAL_DEFAULT is a macro expression Swift does not import. */
static inline CURLcode kotosync_curl_global_init_default(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}
typedef int (*kotosync_curl_xferinfo_callback)(void *userdata, curl_off_t download_total, curl_off_t download_now,
                                               curl_off_t upload_total, curl_off_t upload_now);
static inline CURLcode kotosync_curl_setopt_xferinfo_function(CURL *curl, kotosync_curl_xferinfo_callback value) {
    return curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, value);
}
#endif
