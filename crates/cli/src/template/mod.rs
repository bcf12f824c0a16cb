//! A Go text/template subset for `--format` and `inspect -f`.

mod exec;
mod parse;

pub use exec::LABELS_KEY;

use crate::value::V;

#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses a template; the error reads like Go's ("template parsing error: …").
    pub fn parse(src: &str) -> Result<Template, String> {
        parse::parse(src)
            .map(|nodes| Template { nodes })
            .map_err(|e| format!("template parsing error: template: :1: {e}"))
    }

    pub fn execute(&self, data: &V) -> Result<String, String> {
        exec::execute(&self.nodes, data).map_err(|e| format!("template: :1: executing \"\": {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str, data: &str) -> String {
        let v = V::parse(data.as_bytes()).unwrap();
        Template::parse(src).unwrap().execute(&v).unwrap()
    }

    const INSPECT: &str = r#"{"Id":"abc","State":{"Status":"exited","ExitCode":3,"Running":false},
        "Config":{"Image":"alpine","Labels":{"b":"2","a":"1","x.y":"z"},"Env":["A=1","B=2"],"Cmd":null},
        "Name":"/web","Mounts":[]}"#;

    #[test]
    fn fields_and_nesting() {
        assert_eq!(render("{{.State.ExitCode}}", INSPECT), "3");
        assert_eq!(
            render("{{.Config.Image}} {{.Name}}", INSPECT),
            "alpine /web"
        );
        assert_eq!(render("{{.State.Running}}", INSPECT), "false");
        assert_eq!(render("{{.Nope}}", INSPECT), "<no value>");
        assert_eq!(render("{{.Config.Cmd}}", INSPECT), "<no value>");
        assert_eq!(render("{{.Config.Labels}}", INSPECT), "map[a:1 b:2 x.y:z]");
        assert_eq!(render("{{.Config.Env}}", INSPECT), "[A=1 B=2]");
        assert_eq!(render("{{.}}", r#""plain""#), "plain");
    }

    #[test]
    fn functions() {
        assert_eq!(
            render("{{json .State}}", INSPECT),
            r#"{"Status":"exited","ExitCode":3,"Running":false}"#
        );
        assert_eq!(render("{{json .Mounts}}", INSPECT), "[]");
        assert_eq!(render(r#"{{index .Config.Labels "x.y"}}"#, INSPECT), "z");
        assert_eq!(render(r#"{{index .Config.Env 1}}"#, INSPECT), "B=2");
        assert_eq!(render(r#"{{join .Config.Env ","}}"#, INSPECT), "A=1,B=2");
        assert_eq!(
            render("{{upper .State.Status}} {{lower \"AbC\"}}", INSPECT),
            "EXITED abc"
        );
        assert_eq!(render("{{.State.Status | upper}}", INSPECT), "EXITED");
        assert_eq!(render("{{len .Config.Env}}", INSPECT), "2");
        assert_eq!(
            render(
                r#"{{printf "%-6s|%d" .State.Status .State.ExitCode}}"#,
                INSPECT
            ),
            "exited|3"
        );
        assert_eq!(render(r#"{{title "hello world"}}"#, INSPECT), "Hello World");
        assert_eq!(render(r#"{{(index .Config.Env 0)}}"#, INSPECT), "A=1");
        assert_eq!(render(r#"{{println "a" "b"}}"#, INSPECT), "a b\n");
        assert_eq!(
            render(r#"{{json (split "a,b" ",")}}"#, INSPECT),
            r#"["a","b"]"#
        );
    }

    #[test]
    fn control_structures() {
        assert_eq!(
            render("{{range .Config.Env}}[{{.}}]{{end}}", INSPECT),
            "[A=1][B=2]"
        );
        assert_eq!(
            render(
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
                INSPECT
            ),
            "a=1;b=2;x.y=z;"
        );
        assert_eq!(
            render("{{range .Mounts}}x{{else}}none{{end}}", INSPECT),
            "none"
        );
        assert_eq!(
            render(
                "{{if .State.Running}}up{{else if eq .State.ExitCode 3}}three{{else}}down{{end}}",
                INSPECT
            ),
            "three"
        );
        assert_eq!(
            render("{{with .State}}{{.Status}}{{end}}", INSPECT),
            "exited"
        );
        assert_eq!(
            render("{{range .Config.Env}}{{$.Name}}{{end}}", INSPECT),
            "/web/web"
        );
        assert_eq!(
            render("a  {{- .Name -}}  b{{/* note */}}", INSPECT),
            "a/webb"
        );
        assert_eq!(render("{{$x := .Name}}{{$x}}", INSPECT), "/web");
        assert_eq!(
            render("{{if and .Name (not .State.Running)}}ok{{end}}", INSPECT),
            "ok"
        );
    }

    #[test]
    fn labels_method_and_private_keys() {
        let row = r#"{"ID":"abc","Labels":"a=1","__labels":{"a":"1"}}"#;
        assert_eq!(render(r#"{{.Label "a"}}"#, row), "1");
        assert_eq!(render("{{json .}}", row), r#"{"ID":"abc","Labels":"a=1"}"#);
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        let t = Template::parse("{{nosuch .A}}").unwrap();
        assert!(t
            .execute(&V::Null)
            .unwrap_err()
            .contains("\"nosuch\" not defined"));
        let t = Template::parse("{{.A.B}}").unwrap();
        assert!(t
            .execute(&V::parse(br#"{"A":"s"}"#).unwrap())
            .unwrap_err()
            .contains("can't evaluate field B"));
    }
}
