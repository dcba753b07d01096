// For profiling only: exit normally on SIGTERM so --cpu-prof writes its file
// (bare node dies by the signal, the stock register ignores it).
process.once('SIGTERM', () => process.exit(0));
