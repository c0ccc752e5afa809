/// What this build is, for `kotosync_build_info` and whoever else asks.
public enum BuildInfo {
    /// The release this source tree is; raise it with each release.
    public static let version = "0.1.0"
}
