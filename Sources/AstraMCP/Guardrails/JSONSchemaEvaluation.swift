/// One validation of one instance: walks the compiled nodes and collects violations.
///
/// Two modes share the code. Recording collects up to `limit` violations with their paths
/// and rules. Probing (for `anyOf`, `oneOf`, `not`, `if`, `contains`) only needs to know
/// whether a subschema holds: it stops at the first failure and builds no strings.
struct JSONSchemaEvaluation {
    /// Instances nested deeper than this (counting in-place applicators) are not followed;
    /// the value there is reported instead, so a 100k-deep array cannot exhaust the stack.
    static let maxDepth = 256

    private let nodes: [SchemaNode]
    private(set) var violations: [JSONSchemaViolation] = []
    private var failures = 0
    private var limit: Int
    private var recording = true
    /// The instance location, kept only while recording.
    private var path: [JSONPathSegment] = []

    init(nodes: [SchemaNode], limit: Int) {
        self.nodes = nodes
        self.limit = max(1, limit)
    }

    private var isFull: Bool { failures >= limit }

    private mutating func fail(_ rule: @autoclosure () -> String) {
        failures += 1
        if recording { violations.append(JSONSchemaViolation(path: JSONPathSegment.render(path), rule: rule())) }
    }

    /// Fails at `segment` below the current path, without descending.
    private mutating func fail(at segment: JSONPathSegment, _ rule: @autoclosure () -> String) {
        if recording { path.append(segment) }
        fail(rule())
        if recording { path.removeLast() }
    }

    /// Whether `node` holds for `instance` without recording anything.
    private mutating func probe(_ node: Int, _ instance: JSONValue, depth: Int) -> Bool {
        let saved = (failures, limit, recording)
        failures = 0
        limit = 1
        recording = false
        let valid = evaluate(node, instance, depth: depth)
        (failures, limit, recording) = saved
        return valid
    }

    /// Evaluates `node` on the child `instance` at `segment`.
    @discardableResult
    private mutating func descend(_ node: Int, _ instance: JSONValue, at segment: JSONPathSegment, depth: Int) -> Bool {
        if recording { path.append(segment) }
        defer { if recording { path.removeLast() } }
        return evaluate(node, instance, depth: depth + 1)
    }

    /// Whether `node` holds for `instance`; failures are counted (and recorded) as found.
    @discardableResult
    mutating func evaluate(_ node: Int, _ instance: JSONValue, depth: Int) -> Bool {
        let before = failures
        guard depth <= Self.maxDepth else {
            fail("nested deeper than \(Self.maxDepth) levels")
            return false
        }
        for assertion in nodes[node].assertions {
            if isFull { break }
            check(assertion, instance, depth: depth)
        }
        return failures == before
    }

    private mutating func check(_ assertion: SchemaAssertion, _ instance: JSONValue, depth: Int) {
        switch assertion {
        case .never:
            fail("false schema: no value is allowed")

        case .type(let types):
            if !types.admits(instance) { fail("type \(types.listed), got \(instance.typeName)") }

        case .enumeration(let values, let set):
            let found = set.map { $0.contains(instance) } ?? values.contains(instance)
            if !found { fail("enum \(JSONValue.array(values).abbreviated())") }

        case .constant(let value):
            if instance != value { fail("const \(value.abbreviated())") }

        case .minimum(let bound, let exclusive):
            guard let number = JSONNumber(instance) else { return }
            let order = number.compare(to: bound)
            if order < 0 || (exclusive && order == 0) { fail(exclusive ? "exclusiveMinimum \(bound)" : "minimum \(bound)") }

        case .maximum(let bound, let exclusive):
            guard let number = JSONNumber(instance) else { return }
            let order = number.compare(to: bound)
            if order > 0 || (exclusive && order == 0) { fail(exclusive ? "exclusiveMaximum \(bound)" : "maximum \(bound)") }

        case .multipleOf(let divisor):
            guard let number = JSONNumber(instance) else { return }
            if !number.isMultiple(of: divisor) { fail("multipleOf \(divisor)") }

        case .minLength(let bound):
            guard case .string(let string) = instance else { return }
            // Code points, as the spec says; UTF-8 length bounds them (1...4 bytes each)
            // so most strings are decided without counting.
            let bytes = string.utf8.count
            if bytes / 4 >= bound { return }
            if bytes < bound || string.unicodeScalars.count < bound { fail("minLength \(bound)") }

        case .maxLength(let bound):
            guard case .string(let string) = instance else { return }
            let bytes = string.utf8.count
            if bytes <= bound { return }
            if bytes / 4 > bound || string.unicodeScalars.count > bound { fail("maxLength \(bound)") }

        case .pattern(let pattern):
            guard case .string(let string) = instance else { return }
            if !pattern.matches(string) { fail("pattern '\(pattern.source)'") }

        case .format(let checker):
            guard case .string(let string) = instance else { return }
            if !checker.accepts(string) { fail("format '\(checker.name)'") }

        case .minItems(let bound):
            guard case .array(let items) = instance else { return }
            if items.count < bound { fail("minItems \(bound)") }

        case .maxItems(let bound):
            guard case .array(let items) = instance else { return }
            if items.count > bound { fail("maxItems \(bound)") }

        case .uniqueItems:
            guard case .array(let items) = instance, items.count > 1 else { return }
            if let (first, second) = Self.firstDuplicate(items) { fail("uniqueItems: items \(first) and \(second) are equal") }

        case .items(let prefix, let rest):
            guard case .array(let items) = instance else { return }
            for (index, item) in items.enumerated() {
                if isFull { return }
                if index < prefix.count {
                    descend(prefix[index], item, at: .index(index), depth: depth)
                } else if let rest {
                    if nodes[rest].rejectsEverything {
                        fail(at: .index(index), "item not allowed: at most \(prefix.count) items")
                        return
                    }
                    descend(rest, item, at: .index(index), depth: depth)
                } else {
                    return
                }
            }

        case .contains(let node, let minimum, let maximum):
            guard case .array(let items) = instance else { return }
            var matches = 0
            for item in items where probe(node, item, depth: depth + 1) {
                matches += 1
                if let maximum, matches > maximum { break }
                if maximum == nil, matches >= minimum { break }
            }
            if matches < minimum {
                fail(minimum == 1 ? "contains: no item matches" : "minContains \(minimum): \(matches) items match")
            } else if let maximum, matches > maximum {
                fail("maxContains \(maximum): more items match")
            }

        case .required(let names):
            guard case .object(let members) = instance else { return }
            for name in names where members[name] == nil {
                if isFull { return }
                fail("required property '\(name)' is missing")
            }

        case .members(let properties, let patterns, let additional):
            guard case .object(let members) = instance else { return }
            guard recording, members.count > 1 else {
                checkMembers(members, in: members.keys, properties, patterns, additional, depth: depth)
                return
            }
            // Violations must come in a stable order, and hash order is not: a valid object
            // (the common case) is walked in hash order, and only one with violations is
            // walked again in key order, replacing what the first walk recorded.
            let (failuresBefore, violationsBefore) = (failures, violations.count)
            checkMembers(members, in: members.keys, properties, patterns, additional, depth: depth)
            guard failures > failuresBefore else { return }
            failures = failuresBefore
            violations.removeSubrange(violationsBefore...)
            checkMembers(members, in: members.keys.sorted(), properties, patterns, additional, depth: depth)

        case .propertyNames(let node):
            guard case .object(let members) = instance else { return }
            for key in members.keys.sorted() where !probe(node, .string(key), depth: depth + 1) {
                if isFull { return }
                fail("property name '\(key)' does not match propertyNames")
            }

        case .minProperties(let bound):
            guard case .object(let members) = instance else { return }
            if members.count < bound { fail("minProperties \(bound)") }

        case .maxProperties(let bound):
            guard case .object(let members) = instance else { return }
            if members.count > bound { fail("maxProperties \(bound)") }

        case .dependentRequired(let dependencies):
            guard case .object(let members) = instance else { return }
            for (trigger, names) in dependencies where members[trigger] != nil {
                for name in names where members[name] == nil {
                    if isFull { return }
                    fail("property '\(name)' is required when '\(trigger)' is present")
                }
            }

        case .dependentSchemas(let dependencies):
            guard case .object(let members) = instance else { return }
            for (trigger, node) in dependencies where members[trigger] != nil {
                if isFull { return }
                evaluate(node, instance, depth: depth + 1)
            }

        case .allOf(let branches):
            for branch in branches {
                if isFull { return }
                evaluate(branch, instance, depth: depth + 1)
            }

        case .anyOf(let branches):
            if !branches.contains(where: { probe($0, instance, depth: depth + 1) }) {
                fail("anyOf: matches none of the \(branches.count) subschemas")
            }

        case .oneOf(let branches):
            var matching: [Int] = []
            for (offset, branch) in branches.enumerated() where probe(branch, instance, depth: depth + 1) {
                matching.append(offset)
                if matching.count == 2 { break }
            }
            if matching.isEmpty {
                fail("oneOf: matches none of the \(branches.count) subschemas")
            } else if matching.count > 1 {
                fail("oneOf: matches subschemas \(matching[0]) and \(matching[1]), exactly one expected")
            }

        case .not(let node):
            if probe(node, instance, depth: depth + 1) { fail("not: must not match the subschema") }

        case .conditional(let condition, let then, let otherwise):
            if probe(condition, instance, depth: depth + 1) {
                if let then { evaluate(then, instance, depth: depth + 1) }
            } else if let otherwise {
                evaluate(otherwise, instance, depth: depth + 1)
            }

        case .reference(let node):
            evaluate(node, instance, depth: depth + 1)
        }
    }

    /// `properties`, `patternProperties` and `additionalProperties` over `keys` of `members`.
    private mutating func checkMembers(
        _ members: [String: JSONValue], in keys: some Sequence<String>, _ properties: [String: Int],
        _ patterns: [(CompiledPattern, Int)], _ additional: Int?, depth: Int
    ) {
        for key in keys {
            if isFull { return }
            let value = members[key]!
            var matched = false
            if let node = properties[key] {
                matched = true
                descend(node, value, at: .key(key), depth: depth)
            }
            for (pattern, node) in patterns where pattern.matches(key) {
                matched = true
                descend(node, value, at: .key(key), depth: depth)
            }
            if !matched, let additional {
                if nodes[additional].rejectsEverything {
                    fail("additional property '\(key)' is not allowed")
                } else {
                    descend(additional, value, at: .key(key), depth: depth)
                }
            }
        }
    }

    /// The indices of the first two equal items, by JSON equality.
    private static func firstDuplicate(_ items: [JSONValue]) -> (Int, Int)? {
        if items.count <= 16 {
            for i in items.indices {
                for j in (i + 1)..<items.count where items[i] == items[j] { return (i, j) }
            }
            return nil
        }
        var seen: [JSONValue: Int] = [:]
        seen.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            if let first = seen.updateValue(index, forKey: item) { return (first, index) }
        }
        return nil
    }
}
