import ArgumentParser
import FastCGI

// The run mode is chosen before any argument parsing: a web server or spawner decides how Verdict is started.
if FastCGIServer.isStartedAsFastCGI {
    // spawn-fcgi, a systemd socket unit or mod_fcgid passed a listening socket on standard input.
    Worker.runFastCGIOnStandardInput(arguments: Array(CommandLine.arguments.dropFirst()))
} else if Environment.value("GATEWAY_INTERFACE") != nil {
    // A web server runs Verdict once per request (CGI); argv may hold a query string, so it is ignored.
    Worker.runCGI()
} else {
    VerdictCommand.main()
}
