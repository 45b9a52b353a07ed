//! The model's input and outputs as forewarn sees them: element types, declared shapes
//! (`forewarn model inspect`), and each run's outputs converted to f32 (and exact integers).

use std::fmt;

use tract_onnx::prelude::*;

/// Element type of a model input or output, as declared by the optimised model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemType {
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl ElemType {
    pub(super) fn from_datum(dt: DatumType) -> Option<ElemType> {
        Some(match dt {
            DatumType::F16 => ElemType::F16,
            DatumType::F32 => ElemType::F32,
            DatumType::F64 => ElemType::F64,
            DatumType::I8 => ElemType::I8,
            DatumType::I16 => ElemType::I16,
            DatumType::I32 => ElemType::I32,
            // tract types some integer tensors (shapes, indices, an ArgMax label) as TDim, its
            // symbolic integer; at run time they are concrete and convert to i64.
            DatumType::I64 | DatumType::TDim => ElemType::I64,
            DatumType::U8 => ElemType::U8,
            DatumType::U16 => ElemType::U16,
            DatumType::U32 => ElemType::U32,
            DatumType::U64 => ElemType::U64,
            DatumType::Bool => ElemType::Bool,
            _ => return None,
        })
    }

    /// Integer and bool outputs carry exact values ([`Output::ints`]).
    pub fn is_integer(self) -> bool {
        !matches!(self, ElemType::F16 | ElemType::F32 | ElemType::F64)
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ElemType::F16 => "float16",
            ElemType::F32 => "float32",
            ElemType::F64 => "float64",
            ElemType::I8 => "int8",
            ElemType::I16 => "int16",
            ElemType::I32 => "int32",
            ElemType::I64 => "int64",
            ElemType::U8 => "uint8",
            ElemType::U16 => "uint16",
            ElemType::U32 => "uint32",
            ElemType::U64 => "uint64",
            ElemType::Bool => "bool",
        };
        f.write_str(s)
    }
}

/// Name, shape and element type of the model input or of one output (`forewarn model inspect`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// Concrete shape after the input was fixed to `[1, F]`; `None` when it depends on the
    /// data (the shape of each run's output is then in [`Output::shape`]).
    pub shape: Option<Vec<usize>>,
    pub elem: ElemType,
}

impl fmt::Display for TensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shape {
            Some(s) => write!(f, "{} {}{:?}", self.name, self.elem, s),
            None => write!(f, "{} {}[?]", self.name, self.elem),
        }
    }
}

/// One output of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub elem: ElemType,
    pub shape: Vec<usize>,
    /// Every element, row-major, as f32 (integers convert exactly up to 2^24, which covers
    /// class ids; float64 outputs are rounded).
    pub values: Vec<f32>,
    /// The exact values when the output is an integer or bool tensor (a classifier's label).
    pub ints: Option<Vec<i64>>,
}

/// Every output of one run, in the model's output order.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs(pub Vec<Output>);

impl Outputs {
    pub fn get(&self, name: &str) -> Option<&Output> {
        self.0.iter().find(|o| o.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Output> {
        self.0.iter()
    }
}

/// One run's output tensor → [`Output`]: every element as f32, integers and bools also exact.
pub(super) fn convert_output(info: &TensorInfo, value: &TValue) -> TractResult<Output> {
    let tensor: &Tensor = value;
    let elem = ElemType::from_datum(tensor.datum_type()).unwrap_or(info.elem);
    let shape = tensor.shape().to_vec();
    let (values, ints) = if tensor.datum_type() == DatumType::Bool {
        let ints: Vec<i64> = tensor
            .to_plain_array_view::<bool>()?
            .iter()
            .map(|b| i64::from(*b))
            .collect();
        (ints.iter().map(|&i| i as f32).collect(), Some(ints))
    } else if elem.is_integer() {
        let cast = tensor.cast_to::<i64>()?;
        let ints: Vec<i64> = cast.to_plain_array_view::<i64>()?.iter().copied().collect();
        (ints.iter().map(|&i| i as f32).collect(), Some(ints))
    } else {
        let cast = tensor.cast_to::<f32>()?;
        (
            cast.to_plain_array_view::<f32>()?.iter().copied().collect(),
            None,
        )
    };
    Ok(Output {
        name: info.name.clone(),
        elem,
        shape,
        values,
        ints,
    })
}
