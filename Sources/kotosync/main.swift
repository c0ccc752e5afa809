import Foundation
import KotoCLI

// kotosync: the command line of kotosync. Thin: everything is in KotoCLI.
let status = CLI.run(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
exit(status.rawValue)
