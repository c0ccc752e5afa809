// KotoHTTP: HTTP/1.1 server on POSIX sockets and the libcurl client.
