// libFuzzer harness for KotoCore's JSON parser (built by deploy/fuzz.sh).
// Any input must either parse or throw a JSONParseError, never trap; a
// parsed document must survive serialising and parsing again unchanged.
import KotoCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let value = try? JSONValue.parse(bytes) else { return 0 }
    let text = value.serializedBytes
    guard let again = try? JSONValue.parse(text) else {
        fatalError("the serialisation of a parsed document does not parse")
    }
    precondition(again == value, "a parsed document changed through serialise and parse")
    return 0
}
