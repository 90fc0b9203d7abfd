//! TEMPORARY stub until the lab helper lands its module.
pub fn run(_args: &[String]) -> std::io::Result<i32> {
    Err(std::io::Error::other("lab not built yet"))
}
