import Foundation
import KotoCore

/// JSON as `--json` prints it, and JSON values as table cells.
enum JSONText {
    /// Indented two spaces per level, keys in the server's order.
    static func pretty(_ value: JSONValue) -> String {
        var output = ""
        write(value, indent: 0, to: &output)
        return output
    }

    private static func write(_ value: JSONValue, indent: Int, to output: inout String) {
        let inner = String(repeating: " ", count: indent + 2)
        switch value {
        case .array(let values) where !values.isEmpty:
            output += "[\n"
            for (index, element) in values.enumerated() {
                output += inner
                write(element, indent: indent + 2, to: &output)
                output += index < values.count - 1 ? ",\n" : "\n"
            }
            output += String(repeating: " ", count: indent) + "]"
        case .object(let members) where !members.isEmpty:
            output += "{\n"
            for (index, (key, element)) in members.enumerated() {
                output += inner + JSONValue.string(key).serialized + ": "
                write(element, indent: indent + 2, to: &output)
                output += index < members.count - 1 ? ",\n" : "\n"
            }
            output += String(repeating: " ", count: indent) + "}"
        default:
            output += value.serialized
        }
    }

    /// A value for a table cell: strings as they are, null empty, numbers
    /// without needless decimals, lists joined with ", ".
    static func cell(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: ""
        case .string(let text)?: text
        case .bool(let flag)?: flag ? "true" : "false"
        case .number(let value)?: number(value)
        case .array(let values)?: values.map { cell($0) }.joined(separator: ", ")
        case .object?: value!.serialized
        }
    }

    static func number(_ value: Double) -> String {
        if let integer = JSONValue.number(value).int64Value { return String(integer) }
        guard value.isFinite else { return "" }
        var text = String(format: "%.2f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text == "-0" ? "0" : text
    }
}
