import Foundation

/// Standard base64 with padding, the encoding of keys in text form.
func base64Encoded(_ bytes: [UInt8]) -> String {
    Data(bytes).base64EncodedString()
}

/// Decodes standard base64, accepting only the one canonical spelling of
/// the bytes (padding present, no whitespace, unused bits zero), so every
/// key has exactly one text form.
func base64Decoded(_ text: some StringProtocol) -> [UInt8]? {
    let text = String(text)
    guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
    return [UInt8](data)
}
