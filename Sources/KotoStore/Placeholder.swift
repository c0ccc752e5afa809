// KotoStore
