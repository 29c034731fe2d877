mod encoded;
mod name;
mod writer;
