'use strict';
// The frameworks benchmark's hello-world: one parameterised route
// (`/users/:id`, which the trace names) in the framework BENCH_FRAMEWORK.
// On listening it prints the URL the runner parses.
const framework = process.env.BENCH_FRAMEWORK;
const port = Number(process.env.PORT || 0);
const listening = (p) => console.log(`listening on http://127.0.0.1:${p}`);

async function main() {
  if (framework === 'fastify') {
    const app = require('fastify')();
    app.get('/users/:id', async (request) => ({ id: /** @type {{ id: string }} */ (request.params).id }));
    await app.listen({ port, host: '127.0.0.1' });
    listening(/** @type {import('node:net').AddressInfo} */ (app.server.address()).port);
  } else if (framework === 'hapi') {
    const server = require('@hapi/hapi').server({ port, host: '127.0.0.1' });
    server.route({ method: 'GET', path: '/users/{id}', handler: (request) => ({ id: request.params.id }) });
    await server.start();
    listening(server.info.port);
  } else if (framework === 'restify') {
    const server = require('restify').createServer();
    server.get('/users/:id', (req, res, next) => {
      res.send({ id: req.params.id });
      next();
    });
    server.listen(port, '127.0.0.1', () => listening(server.address().port));
  } else if (framework === 'nest-fastify' || framework === 'nest-express') {
    require('reflect-metadata');
    const { Controller, Get, Module, Param } = require('@nestjs/common');
    const { NestFactory } = require('@nestjs/core');
    class UsersController {
      user(id) {
        return { id };
      }
    }
    Param('id')(UsersController.prototype, 'user', 0);
    Reflect.decorate([Get(':id')], UsersController.prototype, 'user', Object.getOwnPropertyDescriptor(UsersController.prototype, 'user'));
    Controller('users')(UsersController);
    class AppModule {}
    Module({ controllers: [UsersController] })(AppModule);
    const adapter = framework === 'nest-fastify' ? new (require('@nestjs/platform-fastify').FastifyAdapter)() : undefined;
    const app = adapter ? await NestFactory.create(AppModule, adapter, { logger: false }) : await NestFactory.create(AppModule, { logger: false });
    await app.listen(port, '127.0.0.1');
    listening(app.getHttpServer().address().port);
  } else {
    throw new Error(`BENCH_FRAMEWORK=${framework}: not one of fastify, hapi, restify, nest-express, nest-fastify`);
  }
}
main();
