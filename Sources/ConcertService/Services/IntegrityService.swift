/// Verifies on the live database what the tests verify after every race: seats sold once,
/// counts that add up, wallets equal to their ledgers, admission in queue order.
public struct IntegrityService: Sendable {
    let store: any Storage

    public init(store: any Storage) {
        self.store = store
    }

    public func check() async throws -> IntegrityReport {
        var findings: [IntegrityReport.Finding] = []
        for check in IntegrityCheck.all {
            findings.append(.init(check: check, violations: try await store.countViolations(of: check)))
        }
        return IntegrityReport(findings: findings)
    }
}
