//! The parameter string handed to init_module: `name=value` pairs the
//! kernel's parser (`parse_args`) splits at spaces outside double quotes.
//! The policy has already checked each value's type and size.

use std::ffi::CString;

use stap_bundle::manifest::{ParamType, Parameter};

/// Parameters the bundle declares, as the kernel should read them. String
/// values are quoted; the kernel has no escape for a double quote, so a
/// value holding one cannot be passed and is refused.
pub fn module_params(
    declared: &[Parameter],
    params: &[(String, String)],
) -> Result<CString, String> {
    let mut pairs = Vec::new();
    for (name, value) in params {
        let declared = declared
            .iter()
            .find(|p| &p.name == name)
            .ok_or_else(|| format!("parameter {name} is not declared by the bundle"))?;
        pairs.push(match declared.ty {
            ParamType::Long => format!("{name}={value}"),
            ParamType::String if value.contains('"') => {
                return Err(format!(
                    "parameter {name}: a double quote cannot be passed to the kernel's parameter parser"
                ))
            }
            ParamType::String => format!("{name}=\"{value}\""),
        });
    }
    CString::new(pairs.join(" ")).map_err(|_| "a parameter value contains a NUL character".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared() -> Vec<Parameter> {
        vec![
            Parameter {
                name: "count".into(),
                ty: ParamType::Long,
            },
            Parameter {
                name: "label".into(),
                ty: ParamType::String,
            },
        ]
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn quotes_strings_and_keeps_longs() {
        let params = pairs(&[("count", "-5"), ("label", "two words=x")]);
        assert_eq!(
            module_params(&declared(), &params)
                .unwrap()
                .to_str()
                .unwrap(),
            "count=-5 label=\"two words=x\""
        );
        assert_eq!(module_params(&declared(), &[]).unwrap().as_bytes(), b"");
    }

    #[test]
    fn refuses_what_the_kernel_cannot_read() {
        let err = module_params(&declared(), &pairs(&[("label", "say \"hi\"")])).unwrap_err();
        assert!(err.contains("double quote"), "{err}");
        let err = module_params(&declared(), &pairs(&[("other", "1")])).unwrap_err();
        assert!(err.contains("not declared"), "{err}");
    }
}
