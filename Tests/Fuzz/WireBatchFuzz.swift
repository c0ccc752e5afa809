// libFuzzer harness for KotoCore's wire format (built by deploy/fuzz.sh):
// the batch decoder and the field and clock payload decoders the change log
// uses. Any input must decode or throw a WireError, never trap; a decoded
// batch must encode to bytes that decode to the same batch.
import KotoCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireBatch(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    if let batch = try? WireFormat.decode(bytes) {
        let encoded = WireFormat.encode(batch)
        guard let again = try? WireFormat.decode(encoded) else { fatalError("an encoded batch does not decode") }
        precondition(again == batch, "a decoded batch changed through encode and decode")
    }
    // The same bytes as a stored payload: fields of the kind the first byte picks, and a row clock.
    if let first = bytes.first {
        let kinds = RecordKind.allCases
        let record = kinds[Int(first) % kinds.count]
        if let fields = try? WireFormat.decodeFields(bytes.dropFirst(), record: record) {
            let encoded = WireFormat.encodeFields(fields, record: record)
            precondition((try? WireFormat.decodeFields(encoded, record: record)) == fields, "fields changed through encode and decode")
        }
    }
    if let clock = try? WireFormat.decodeClock(bytes) {
        precondition((try? WireFormat.decodeClock(WireFormat.encodeClock(clock))) == clock, "a clock changed through encode and decode")
    }
    return 0
}
