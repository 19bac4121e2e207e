import ArgumentParser
import FastCGI

// First of all, before libfcgi is initialised (by the mode check) and before any thread exists: a SIGTERM or SIGINT
// during start-up must stay pending for the server's `sigwait` (see StopSignals).
let stopSignals = StopSignals.block()

// The run mode is chosen before any argument parsing: a web server or spawner decides how Verdict is started.
if FastCGIServer.isStartedAsFastCGI {
    // spawn-fcgi, a systemd socket unit or mod_fcgid passed a listening socket on standard input.
    Worker.runFastCGIOnStandardInput(arguments: Array(CommandLine.arguments.dropFirst()))
} else if Environment.value("GATEWAY_INTERFACE") != nil {
    // A web server runs Verdict once per request (CGI); argv may hold a query string, so it is ignored.
    stopSignals.restore()
    Worker.runCGI()
} else {
    VerdictCommand.main(stopSignals: stopSignals)
}
