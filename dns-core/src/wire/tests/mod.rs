mod name;
mod writer;
