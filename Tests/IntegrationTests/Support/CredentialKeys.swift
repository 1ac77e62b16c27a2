import Foundation

@testable import AstraMCP

/// Runs `body` with a fresh credential key directory holding one key; removes it afterwards.
func withCredentialKeys<T: Sendable>(_ body: (String) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("astra-keys-\(UUID().uuidString)").path
    _ = try CredentialKeyring.generateKey(in: directory)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    return try await body(directory)
}
