import '../../local/node-compat';
