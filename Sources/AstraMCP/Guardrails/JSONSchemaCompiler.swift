/// Compiles a schema document into ``SchemaNode``s: keywords checked and turned into
/// assertions, patterns compiled, `$ref`s resolved to node indices.
///
/// Subschemas are compiled where they are nested; a `$ref` reserves the node of its target
/// pointer and the target is compiled from a work list afterwards, so a chain of references
/// costs no recursion. Nodes are keyed by their canonical JSON pointer, so a subschema
/// reached both by nesting and by `$ref` is compiled once.
struct JSONSchemaCompiler {
    /// Subschemas nested deeper than this are refused (the compiler recurses on nesting).
    static let maxNesting = 128

    private let document: JSONValue
    /// The root `$id` without fragment: a `$ref` to it (`https://x/s.json#/$defs/a`) is local.
    private let rootID: String?
    private var nodes: [SchemaNode] = []
    private var compiled: [Bool] = []
    private var indexByPointer: [String: Int] = [:]
    private var pendingReferences: [(pointer: String, tokens: [String])] = []

    init(document: JSONValue) {
        self.document = document
        if case .object(let root) = document, case .string(let id)? = root["$id"] {
            rootID = id.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)
        } else {
            rootID = nil
        }
    }

    /// The nodes and the index of the root.
    mutating func compile() throws(JSONSchemaError) -> (nodes: [SchemaNode], root: Int) {
        let root = try compile(document, at: [], depth: 0)
        while let (pointer, tokens) = pendingReferences.popLast() {
            guard let index = indexByPointer[pointer], !compiled[index] else { continue }
            guard let target = Self.resolve(tokens, in: document) else {
                throw JSONSchemaError(kind: .unresolvableReference(pointer), location: pointer)
            }
            _ = try compile(target, at: tokens, depth: 0)
        }
        try checkReferenceCycles()
        return (nodes, root)
    }

    // MARK: - Subschemas

    private mutating func reserve(_ pointer: String) -> Int {
        if let index = indexByPointer[pointer] { return index }
        nodes.append(SchemaNode(location: pointer))
        compiled.append(false)
        indexByPointer[pointer] = nodes.count - 1
        return nodes.count - 1
    }

    private mutating func compile(_ schema: JSONValue, at tokens: [String], depth: Int) throws(JSONSchemaError) -> Int {
        let pointer = Self.pointer(tokens)
        let index = reserve(pointer)
        if compiled[index] { return index }
        // Marked before the keywords so a reference back here resolves to this node.
        compiled[index] = true
        guard depth <= Self.maxNesting else { throw JSONSchemaError(kind: .tooDeep(limit: Self.maxNesting), location: pointer) }
        switch schema {
        case .bool(true): break
        case .bool(false): nodes[index].assertions = [.never]
        case .object(let keywords): nodes[index].assertions = try assertions(keywords, at: tokens, depth: depth)
        default: throw JSONSchemaError(kind: .notASchema, location: pointer)
        }
        return index
    }

    private mutating func subschema(_ keywords: [String: JSONValue], _ keyword: String, at tokens: [String], depth: Int)
        throws(JSONSchemaError) -> Int?
    {
        guard let value = keywords[keyword] else { return nil }
        return try compile(value, at: tokens + [keyword], depth: depth + 1)
    }

    private mutating func subschemaArray(_ keywords: [String: JSONValue], _ keyword: String, at tokens: [String], depth: Int)
        throws(JSONSchemaError) -> [Int]?
    {
        guard let value = keywords[keyword] else { return nil }
        guard case .array(let elements) = value, !elements.isEmpty else {
            throw invalid(tokens, keyword, "'\(keyword)' must be a non-empty array of schemas")
        }
        var result: [Int] = []
        result.reserveCapacity(elements.count)
        for (offset, element) in elements.enumerated() {
            result.append(try compile(element, at: tokens + [keyword, String(offset)], depth: depth + 1))
        }
        return result
    }

    private mutating func subschemaMap(_ keywords: [String: JSONValue], _ keyword: String, at tokens: [String], depth: Int)
        throws(JSONSchemaError) -> [(String, Int)]?
    {
        guard let value = keywords[keyword] else { return nil }
        guard case .object(let members) = value else { throw invalid(tokens, keyword, "'\(keyword)' must be an object of schemas") }
        var result: [(String, Int)] = []
        for key in members.keys.sorted() {
            result.append((key, try compile(members[key]!, at: tokens + [keyword, key], depth: depth + 1)))
        }
        return result
    }

    // MARK: - Keywords

    private mutating func assertions(_ keywords: [String: JSONValue], at tokens: [String], depth: Int)
        throws(JSONSchemaError) -> [SchemaAssertion]
    {
        var result: [SchemaAssertion] = []

        // Cheap, decisive checks first: a wrong type usually makes the rest moot.
        if let value = keywords["type"] {
            var types = JSONTypeSet()
            let names: [JSONValue]
            if case .array(let list) = value { names = list } else { names = [value] }
            for name in names {
                guard case .string(let name) = name, let type = JSONTypeSet(name: name) else {
                    throw invalid(tokens, "type", "'type' must be a type name or an array of them")
                }
                types.insert(type)
            }
            result.append(.type(types))
        }
        if let value = keywords["enum"] {
            guard case .array(let values) = value else { throw invalid(tokens, "enum", "'enum' must be an array") }
            result.append(.enumeration(values, values.count > 8 ? Set(values) : nil))
        }
        if let value = keywords["const"] { result.append(.constant(value)) }

        // Numbers. Draft-04's boolean exclusiveMinimum/exclusiveMaximum make minimum/maximum exclusive.
        let exclusiveMinimumFlag = keywords["exclusiveMinimum"] == .bool(true)
        let exclusiveMaximumFlag = keywords["exclusiveMaximum"] == .bool(true)
        if let bound = try number(keywords, "minimum", at: tokens) { result.append(.minimum(bound, exclusive: exclusiveMinimumFlag)) }
        if let bound = try number(keywords, "maximum", at: tokens) { result.append(.maximum(bound, exclusive: exclusiveMaximumFlag)) }
        if case .bool = keywords["exclusiveMinimum"] {} else if let bound = try number(keywords, "exclusiveMinimum", at: tokens) {
            result.append(.minimum(bound, exclusive: true))
        }
        if case .bool = keywords["exclusiveMaximum"] {} else if let bound = try number(keywords, "exclusiveMaximum", at: tokens) {
            result.append(.maximum(bound, exclusive: true))
        }
        if let divisor = try number(keywords, "multipleOf", at: tokens) {
            guard divisor.isPositive else { throw invalid(tokens, "multipleOf", "'multipleOf' must be greater than 0") }
            result.append(.multipleOf(divisor))
        }

        // Strings.
        if let bound = try count(keywords, "minLength", at: tokens) { result.append(.minLength(bound)) }
        if let bound = try count(keywords, "maxLength", at: tokens) { result.append(.maxLength(bound)) }
        if let value = keywords["pattern"] {
            guard case .string(let source) = value else { throw invalid(tokens, "pattern", "'pattern' must be a string") }
            result.append(.pattern(try pattern(source, at: tokens + ["pattern"])))
        }
        if case .string(let name)? = keywords["format"], let checker = FormatChecker(name: name) {
            result.append(.format(checker))
        }

        // Arrays.
        if let bound = try count(keywords, "minItems", at: tokens) { result.append(.minItems(bound)) }
        if let bound = try count(keywords, "maxItems", at: tokens) { result.append(.maxItems(bound)) }
        if let value = keywords["uniqueItems"] {
            guard case .bool(let unique) = value else { throw invalid(tokens, "uniqueItems", "'uniqueItems' must be a boolean") }
            if unique { result.append(.uniqueItems) }
        }
        if case .array = keywords["items"] {
            // Draft-07 tuple form: `items` is the prefix, `additionalItems` the rest.
            let prefix = try subschemaArray(keywords, "items", at: tokens, depth: depth) ?? []
            let rest = try subschema(keywords, "additionalItems", at: tokens, depth: depth)
            result.append(.items(prefix: prefix, rest: rest))
        } else {
            let prefix = try subschemaArray(keywords, "prefixItems", at: tokens, depth: depth) ?? []
            let rest = try subschema(keywords, "items", at: tokens, depth: depth)
            if !prefix.isEmpty || rest != nil { result.append(.items(prefix: prefix, rest: rest)) }
        }
        if let contains = try subschema(keywords, "contains", at: tokens, depth: depth) {
            let minimum = try count(keywords, "minContains", at: tokens) ?? 1
            let maximum = try count(keywords, "maxContains", at: tokens)
            result.append(.contains(contains, min: minimum, max: maximum))
        }

        // Objects.
        if let value = keywords["required"] {
            result.append(.required(try strings(value, tokens, "required")))
        }
        let properties = try subschemaMap(keywords, "properties", at: tokens, depth: depth)
        var patterns: [(CompiledPattern, Int)] = []
        for (source, node) in try subschemaMap(keywords, "patternProperties", at: tokens, depth: depth) ?? [] {
            patterns.append((try pattern(source, at: tokens + ["patternProperties", source]), node))
        }
        let additional = try subschema(keywords, "additionalProperties", at: tokens, depth: depth)
        if properties != nil || !patterns.isEmpty || additional != nil {
            var byName: [String: Int] = [:]
            for (name, node) in properties ?? [] { byName[name] = node }
            result.append(.members(properties: byName, patterns: patterns, additional: additional))
        }
        if let names = try subschema(keywords, "propertyNames", at: tokens, depth: depth) { result.append(.propertyNames(names)) }
        if let bound = try count(keywords, "minProperties", at: tokens) { result.append(.minProperties(bound)) }
        if let bound = try count(keywords, "maxProperties", at: tokens) { result.append(.maxProperties(bound)) }
        var dependentRequired: [(String, [String])] = []
        var dependentSchemas: [(String, Int)] = []
        if let value = keywords["dependentRequired"] {
            guard case .object(let members) = value else {
                throw invalid(tokens, "dependentRequired", "'dependentRequired' must be an object of string arrays")
            }
            for key in members.keys.sorted() {
                dependentRequired.append((key, try strings(members[key]!, tokens + ["dependentRequired"], key)))
            }
        }
        dependentSchemas += try subschemaMap(keywords, "dependentSchemas", at: tokens, depth: depth) ?? []
        if case .object(let members)? = keywords["dependencies"] {
            // Draft-07 `dependencies`: an array is dependentRequired, a schema dependentSchemas.
            for key in members.keys.sorted() {
                if case .array = members[key]! {
                    dependentRequired.append((key, try strings(members[key]!, tokens + ["dependencies"], key)))
                } else {
                    dependentSchemas.append((key, try compile(members[key]!, at: tokens + ["dependencies", key], depth: depth + 1)))
                }
            }
        }
        if !dependentRequired.isEmpty { result.append(.dependentRequired(dependentRequired)) }

        // Applicators on the same instance.
        if let nodes = try subschemaArray(keywords, "allOf", at: tokens, depth: depth) { result.append(.allOf(nodes)) }
        if let nodes = try subschemaArray(keywords, "anyOf", at: tokens, depth: depth) { result.append(.anyOf(nodes)) }
        if let nodes = try subschemaArray(keywords, "oneOf", at: tokens, depth: depth) { result.append(.oneOf(nodes)) }
        if let node = try subschema(keywords, "not", at: tokens, depth: depth) { result.append(.not(node)) }
        if let condition = try subschema(keywords, "if", at: tokens, depth: depth) {
            let then = try subschema(keywords, "then", at: tokens, depth: depth)
            let otherwise = try subschema(keywords, "else", at: tokens, depth: depth)
            if then != nil || otherwise != nil { result.append(.conditional(if: condition, then: then, else: otherwise)) }
        }
        if !dependentSchemas.isEmpty { result.append(.dependentSchemas(dependentSchemas)) }
        if let value = keywords["$ref"] {
            guard case .string(let reference) = value else { throw invalid(tokens, "$ref", "'$ref' must be a string") }
            result.append(.reference(try resolveReference(reference, at: tokens)))
        }
        return result
    }

    private func invalid(_ tokens: [String], _ keyword: String, _ reason: String) -> JSONSchemaError {
        JSONSchemaError(kind: .invalidKeyword(reason), location: Self.pointer(tokens + [keyword]))
    }

    private func number(_ keywords: [String: JSONValue], _ keyword: String, at tokens: [String]) throws(JSONSchemaError) -> JSONNumber? {
        guard let value = keywords[keyword] else { return nil }
        guard let number = JSONNumber(value) else { throw invalid(tokens, keyword, "'\(keyword)' must be a number") }
        return number
    }

    /// A non-negative integer keyword (`minLength`, `maxItems`, ...); `2.0` is accepted.
    private func count(_ keywords: [String: JSONValue], _ keyword: String, at tokens: [String]) throws(JSONSchemaError) -> Int? {
        guard let value = keywords[keyword] else { return nil }
        switch value {
        case .integer(let count) where count >= 0: return Int(clamping: count)
        case .double(let count) where count >= 0 && count.rounded(.towardZero) == count:
            return count >= 9.2e18 ? Int.max : Int(count)
        default: throw invalid(tokens, keyword, "'\(keyword)' must be a non-negative integer")
        }
    }

    private func strings(_ value: JSONValue, _ tokens: [String], _ keyword: String) throws(JSONSchemaError) -> [String] {
        guard case .array(let elements) = value else { throw invalid(tokens, keyword, "'\(keyword)' must be an array of strings") }
        var result: [String] = []
        for element in elements {
            guard case .string(let string) = element else { throw invalid(tokens, keyword, "'\(keyword)' must be an array of strings") }
            result.append(string)
        }
        return result
    }

    private func pattern(_ source: String, at tokens: [String]) throws(JSONSchemaError) -> CompiledPattern {
        guard let compiled = CompiledPattern.compile(source) else {
            throw JSONSchemaError(kind: .invalidPattern(source), location: Self.pointer(tokens))
        }
        return compiled
    }

    // MARK: - References

    /// The node a `$ref` names, reserved now and compiled later from the work list.
    private mutating func resolveReference(_ reference: String, at tokens: [String]) throws(JSONSchemaError) -> Int {
        let location = Self.pointer(tokens + ["$ref"])
        let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let base = String(parts[0])
        let fragment = parts.count > 1 ? String(parts[1]) : ""
        // Only this document: `#...`, or the root's own `$id`. Nothing is ever fetched.
        guard base.isEmpty || base == rootID else {
            throw JSONSchemaError(kind: .remoteReference(reference), location: location)
        }
        guard fragment.isEmpty || fragment.hasPrefix("/") else {
            // `#name` is an `$anchor`, which this validator does not resolve.
            throw JSONSchemaError(kind: .unresolvableReference(reference), location: location)
        }
        var targetTokens: [String] = []
        if !fragment.isEmpty {
            guard let decoded = fragment.removingPercentEncodingASCII() else {
                throw JSONSchemaError(kind: .unresolvableReference(reference), location: location)
            }
            for token in decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
                guard let unescaped = Self.unescapePointerToken(token) else {
                    throw JSONSchemaError(kind: .unresolvableReference(reference), location: location)
                }
                targetTokens.append(unescaped)
            }
        }
        guard Self.resolve(targetTokens, in: document) != nil else {
            throw JSONSchemaError(kind: .unresolvableReference(reference), location: location)
        }
        let pointer = Self.pointer(targetTokens)
        let index = reserve(pointer)
        if !compiled[index] { pendingReferences.append((pointer, targetTokens)) }
        return index
    }

    /// `~1` is `/`, `~0` is `~`; any other `~` is malformed.
    private static func unescapePointerToken(_ token: Substring) -> String? {
        guard token.contains("~") else { return String(token) }
        var result = ""
        var iterator = token.makeIterator()
        while let character = iterator.next() {
            if character == "~" {
                switch iterator.next() {
                case "0": result.append("~")
                case "1": result.append("/")
                default: return nil
                }
            } else {
                result.append(character)
            }
        }
        return result
    }

    static func pointer(_ tokens: [String]) -> String {
        var out = "#"
        for token in tokens {
            out += "/"
            for character in token.unicodeScalars {
                switch character {
                case "~": out += "~0"
                case "/": out += "~1"
                default: out.unicodeScalars.append(character)
                }
            }
        }
        return out
    }

    static func resolve(_ tokens: [String], in document: JSONValue) -> JSONValue? {
        var current = document
        for token in tokens {
            switch current {
            case .object(let members):
                guard let next = members[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(token), index >= 0, index < elements.count, String(index) == token else { return nil }
                current = elements[index]
            default: return nil
            }
        }
        return current
    }

    /// Refuses a cycle of in-place applicators (`$ref`, `allOf`, `not`, ...): evaluating it
    /// would apply the same subschemas to the same value forever.
    private func checkReferenceCycles() throws(JSONSchemaError) {
        // Iterative depth-first search; 1 = on the current path, 2 = done.
        var state = [UInt8](repeating: 0, count: nodes.count)
        let edges = nodes.map { $0.assertions.flatMap(\.inPlaceSubschemas) }
        for start in nodes.indices where state[start] == 0 {
            var stack: [(node: Int, next: Int)] = [(start, 0)]
            state[start] = 1
            while let (node, next) = stack.last {
                if next == edges[node].count {
                    state[node] = 2
                    stack.removeLast()
                    continue
                }
                stack[stack.count - 1].next += 1
                let target = edges[node][next]
                if state[target] == 1 {
                    let cycleStart = stack.firstIndex { $0.node == target }!
                    let cycle = (stack[cycleStart...].map { nodes[$0.node].location } + [nodes[target].location]).joined(separator: " → ")
                    throw JSONSchemaError(kind: .referenceCycle(cycle), location: nodes[node].location)
                }
                if state[target] == 0 {
                    state[target] = 1
                    stack.append((target, 0))
                }
            }
        }
    }
}

extension String {
    /// Percent-decoding without Foundation; nil on a malformed escape or invalid UTF-8.
    fileprivate func removingPercentEncodingASCII() -> String? {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
