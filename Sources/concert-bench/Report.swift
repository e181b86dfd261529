import Foundation

/// One measured figure, with the same-run baseline it is judged against where there is one.
struct Figure: Encodable, Sendable {
    var backend: String
    var scenario: String
    var name: String
    var value: Double
    var unit: String
    var baselineName: String?
    var baseline: Double?
    var target: String?
    /// nil when the figure has no target.
    var met: Bool?

    /// value / baseline; stored so that the JSON carries it.
    var ratio: Double?

    init(
        backend: String, scenario: String, name: String, value: Double, unit: String,
        baselineName: String?, baseline: Double?, target: String?, met: Bool?
    ) {
        (self.backend, self.scenario, self.name, self.value, self.unit) = (backend, scenario, name, value, unit)
        (self.baselineName, self.baseline, self.target, self.met) = (baselineName, baseline, target, met)
        ratio = baseline.map { value / $0 }
    }
}

/// Collects figures, prints each as it comes and the whole table at the end, and writes JSON.
final class Report {
    private(set) var figures: [Figure] = []
    let machine = MachineDescription.current

    func add(_ figure: Figure) {
        figures.append(figure)
        print("  " + Self.line(figure))
    }

    var table: String {
        let header = ["backend", "scenario", "figure", "value", "baseline (same run)", "ratio", "target", "met"]
        let rows = figures.map { figure in
            [
                figure.backend, figure.scenario, figure.name, "\(Self.format(figure.value)) \(figure.unit)",
                figure.baseline.map { "\(Self.format($0)) \(figure.baselineName ?? "")" } ?? "",
                figure.ratio.map { String(format: "%.2f", $0) } ?? "",
                figure.target ?? "", figure.met.map { $0 ? "yes" : "NO" } ?? "",
            ]
        }
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        func render(_ row: [String]) -> String {
            "| " + zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
        }
        return ([render(header), "|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|"]
            + rows.map(render)).joined(separator: "\n")
    }

    func write(to path: String) throws {
        struct Document: Encodable {
            var machine: MachineDescription
            var figures: [Figure]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(Document(machine: machine, figures: figures)).write(to: URL(fileURLWithPath: path))
    }

    static func line(_ figure: Figure) -> String {
        var text = "\(figure.name): \(format(figure.value)) \(figure.unit)"
        if let baseline = figure.baseline, let ratio = figure.ratio {
            text += " vs \(format(baseline)) \(figure.baselineName ?? "") = \(String(format: "%.2f", ratio))×"
        }
        if let target = figure.target, let met = figure.met { text += " (target \(target): \(met ? "met" : "MISSED"))" }
        return text
    }

    static func format(_ value: Double) -> String {
        if value >= 100 || value == value.rounded() { return String(format: "%.0f", value) }
        return String(format: "%.2f", value)
    }
}

/// Where the figures came from.
struct MachineDescription: Codable, Sendable {
    var cpu: String
    var cores: Int
    var memoryGibibytes: Double
    var kernel: String
    var date: String

    static var current: MachineDescription {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        let kernel = (try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
        return MachineDescription(
            cpu: model, cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryGibibytes: (Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824 * 10).rounded() / 10,
            kernel: kernel, date: Date().formatted(.iso8601))
    }
}
