import Foundation
import Glibc

/// Where a run reads and writes: the process's standard streams, or
/// buffers in tests.
public struct Console: Sendable {
    /// Standard output, as bytes (CSV is written through unchanged).
    public var output: @Sendable ([UInt8]) -> Void
    /// Standard error: messages, prompts.
    public var error: @Sendable (String) -> Void
    /// All of standard input (`--file -`); nil when it cannot be read.
    public var readInput: @Sendable () -> [UInt8]?
    /// One line typed at the terminal (a confirmation); nil at end of input.
    public var readLine: @Sendable () -> String?
    /// Whether a person sits at the terminal (standard input and error are terminals), so a question can be asked.
    public var isInteractive: @Sendable () -> Bool

    public init(output: @escaping @Sendable ([UInt8]) -> Void, error: @escaping @Sendable (String) -> Void,
                readInput: @escaping @Sendable () -> [UInt8]?, readLine: @escaping @Sendable () -> String?,
                isInteractive: @escaping @Sendable () -> Bool) {
        self.output = output
        self.error = error
        self.readInput = readInput
        self.readLine = readLine
        self.isInteractive = isInteractive
    }

    public static let standard = Console(
        output: { FileHandle.standardOutput.write(Data($0)) },
        error: { FileHandle.standardError.write(Data($0.utf8)) },
        readInput: { try? FileHandle.standardInput.readToEnd().map { Array($0) } ?? [] },
        readLine: { Swift.readLine() },
        isInteractive: { isatty(STDIN_FILENO) == 1 && isatty(STDERR_FILENO) == 1 })

    func print(_ text: String) { output(Array(text.utf8)) }
}
